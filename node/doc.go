// Package node is Cairn's composition root: it owns the node home on disk,
// loads the configuration, and StartDaemon builds every service of a
// running node explicitly, as fields of Daemon: the p2p host with its
// protocols (fetch, catalog, policy, infer), the Hugging Face API
// (hfapi), the OpenAI server (inference/openai) unless inference is
// disabled, the inference router in front of it (inference/router), the
// model finder (inference/models) and the metrics. routes lays out every
// HTTP route in one place; Run runs the services together. cli turns
// flags into DaemonOptions and calls; nothing registers itself.
//
// Words:
//   - Home: the folder of one node (default ~/.cairn): config.yaml, the
//     libp2p identity key, the badger store, the membership certificate,
//     trusted organisation keys, the residency policy, the audit log and
//     pins.json (the replicator's intents and replicas), the materialised
//     models.
//   - Config: the plain struct read from config.yaml; a zero field means
//     the default stated on it.
//   - DaemonOptions: what one run overrides of the config (`cairn daemon`
//     flags, CAIRN_INFERENCE_MEMORY through the router's config).
//   - Service: anything with Run(ctx) error; the daemon runs them together
//     and stops all when one fails or the context ends.
//   - Daemon: a running node: p2p host, bulk fetch server, manifest
//     (catalog), the control plane (p2p/gossip: policy, revocations,
//     certificate renewals, intents, holdings, audit checkpoints kept in
//     Checkpoints), infer protocols, the replicator (replicate.Service,
//     fed by adapters over the store, host, policy engine, Pull, gossip
//     and audit log), the HTTP API, the CLI socket.
//   - Pull: making a revision present locally from the nearest members
//     that hold it and may send it; verified before its ref is set.
//   - Discovery: finding holders beyond the connected members, from the
//     gossiped holdings (with their addresses), else from the DHT's
//     provider records of RevisionKey, and dialling them on demand.
//   - max peers, relays: p2p.max_peers bounds the connections (relays and
//     transfers protected); mirrors offer circuit relay, edge nodes keep
//     reservations on their bootstrap peers (p2p.relay_service, p2p.relays).
//   - Materialised model: a GGUF file written out of the store into
//     <home>/models/<sha256>.gguf so the engine can map it.
//   - API key: an http.tokens entry, the bearer token of both the Hugging
//     Face and the OpenAI API, maybe bound to a jurisdiction
//     (internal/httpauth).
package node
