// Package metrics holds a Cairn daemon's Prometheus metrics, in a registry
// of their own that node serves at /metrics. node records fetches and
// refused blocks into it, and the inference router (inference/router)
// records requests, forwards and the tokens of each answer.
//
// Words:
//   - Route: where a generation request went: local, forwarded,
//     served_for_peer, refused (policy) or failed.
//   - Source: a function read at each scrape (loaded models' queues, the
//     Hugging Face API's served bytes), so that no service pushes gauges.
//   - Counting writer: the http.ResponseWriter CountAnswer returns; it
//     passes an answer through unchanged while counting its completion
//     tokens and timing its first one.
//   - Swarm figures: the fetch server's bytes served to each peer and the
//     upload and download limits, read at each scrape (RegisterSwarm).
package metrics
