// Package router decides where an OpenAI request reaching a Cairn node is
// served: here, by the node's own OpenAI server, or by the nearest member
// that the residency policy allows to process the model's prompts, over
// /cairn/infer/1.0.0 (p2p/infer). It is the http.Handler node mounts for
// POST /v1/completions, POST /v1/chat/completions, POST /v1/embeddings
// and GET /v1/models; it
// applies the jurisdiction binding of API keys before serving or
// forwarding, and answers other members' forwarded requests and advert
// queries (infer.Handler). node builds it from Deps; cli asks it for the
// routing view (`cairn peers --models`).
//
// Words:
//   - Route: where a request went: "local" or "forwarded" (X-Cairn-Route),
//     and who generated it (X-Cairn-Served-By).
//   - Advert: what a member serves (models held or loaded, load), asked
//     for on the infer protocol and reused for Config.AdvertTTL.
//   - Gossiped advert: the names ("repo@rev", "repo@rev/file") of the
//     models a node serves, its load and addresses, published on the
//     control plane (p2p/gossip) at start, when they change (looked at
//     every Config.AdvertCheck) and every Config.AdvertRefresh; another
//     node's counts for Config.HeardTTL while its author is a current
//     member. A request's candidates are asked first among the members
//     the gossiped adverts name (up to Config.MaxDial of them dialled when
//     none is connected, policy permitting) and the connected members that
//     gossip none, then among every other connected member.
//   - Candidate: a member that serves the model and may process its
//     prompts, costed as its round-trip time plus Config.LoadCost per
//     generation running or waiting there plus Config.ColdCost when the
//     model is not loaded; the cheapest goes first, the next on failure
//     while nothing has reached the client.
//   - Need: the memory a model takes loaded, its file plus the KV cache of
//     the engine's default context; over Config.MemoryLimit, forwarded.
//   - Prefetch: pulling, in the background, a model the node forwarded
//     because it did not hold it, to serve the next requests itself.
//   - Bound key: an API key (http.tokens) with a jurisdiction; it uses and
//     lists only the models whose repo the policy lets that jurisdiction
//     receive, as on the Hugging Face API.
package router
