// Package node is Cairn's composition root: it owns the node home on disk,
// loads the configuration, builds the concrete store, host and servers,
// and runs them as supervised services.
//
// Words:
//   - Home: the folder of one node (default ~/.cairn): config.yaml, the
//     libp2p identity key, the badger store, the membership certificate,
//     trusted organisation keys, the residency policy, the audit log and
//     pins.json (the replicator's intents and replicas).
//   - Config: the plain struct read from config.yaml; a zero field means
//     the default stated on it.
//   - Service: anything with Run(ctx) error; the node runs them together
//     and stops all when one fails or the context ends.
//   - Daemon: a running node: p2p host, bulk fetch server, manifest
//     (catalog) protocol, policy sync (p2p/policysync), the replicator
//     (replicate.Service, fed by adapters over the store, host, policy
//     engine, Pull and audit log), the HTTP API, the CLI socket.
//   - Pull: making a revision present locally from the nearest members
//     that hold it and may send it; verified before its ref is set.
//   - Materialised model: a GGUF file written out of the store into
//     <home>/models/<sha256>.gguf so the engine can map it.
//   - Forward: sending an inference request over /cairn/infer/1.0.0 to a
//     member that serves the model, when this node cannot.
//   - Advert: what a member says it serves (models held or loaded, queue,
//     load), asked for on the infer protocol and cached briefly.
//   - Route: where a request went: answered locally or forwarded to a peer.
//   - API key: an http.tokens entry as the OpenAI API's bearer token. One
//     bound to a jurisdiction uses and lists only the models whose repo the
//     policy lets that jurisdiction receive (as on the Hugging Face API);
//     the node the client reached decides, before serving or forwarding.
package node
