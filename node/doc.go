// Package node is Cairn's composition root: it owns the node home on disk,
// loads its configuration (package config), and StartDaemon builds every
// service of a running node explicitly, as fields of Daemon: the p2p host with its
// protocols (fetch, catalog, policy, infer, p2p/auditsync, p2p/release),
// the Hugging Face API (hfapi), the OpenAI server (inference/openai)
// unless inference is disabled, the inference router in front of it
// (inference/router), the Ollama API over the router (inference/ollama),
// the model finder (inference/models), the pull service (pull), the
// repair worker (repair) and the metrics. Feature logic lives in those packages; node holds
// construction and the thin adapters they need of it. routes lays out every
// HTTP route in one place (behind internal/httpguard: Host check, CORS
// only for listed origins, JSON-only bodies on JSON endpoints, /metrics
// behind the tokens); Run runs the services together. cli turns
// flags into DaemonOptions and calls; nothing registers itself.
//
// Words:
//   - Home: the folder of one node (package home): identity,
//     membership, trust, policy and audit log files; Node embeds it and
//     adds the config and the store.
//   - Config: the plain struct read from config.yaml (config.Config); a
//     zero field means the default stated on it.
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
//   - Pull: making a revision present locally from the members (package
//     pull, over the daemon's store, host, gossiped holdings, policy and
//     checks: pullChecks); Daemon.Pull is its entry point.
//   - Pull-through: the Hugging Face API's store (hfapi.PullThrough over
//     hfPuller): on a miss, one pull of
//     the revision shared by every request for it (or, on a mirror, a
//     mirror from the upstream Hub), files streamed as their blocks
//     arrive.
//   - max peers, relays: p2p.max_peers bounds the connections (relays and
//     transfers protected); mirrors offer circuit relay, edge nodes keep
//     reservations on their bootstrap peers (p2p.relay_service, p2p.relays).
//   - Materialised model: a GGUF file written out of the store into
//     <home>/models/<sha256>.gguf so the engine can map it.
//   - Repair worker: the daemon service (package repair) that takes the
//     blocks the store found bad (on read or scrub), finds the revisions
//     holding them, and rewrites them with verified bytes fetched from
//     members holding those revisions (RepairBlocks); audited and counted
//     in /metrics. node gives it the store, audit log, fetch client and a
//     finder over its catalog queries.
//   - Scrub: re-hashing every stored block at store.scrub_rate every
//     store.scrub_interval (by default daily on mirrors), then repairing.
//   - Import gate: the residency policy asked before any way in (add,
//     bundle import, mirror, pull) takes a repo; refusals and --force
//     overrides are audited (ImportGate).
//   - Audit checkpoints: the node signs its audit log's head with its
//     identity key every minute and at shutdown, pushes it to members
//     (p2p/auditsync), keeps theirs (KeepCheckpoint) and answers what it
//     holds, so `cairn audit verify --peers`
//     catches a log cut or rewritten behind those copies.
//   - API key: an http.tokens entry, the bearer token of both the Hugging
//     Face and the OpenAI API, maybe bound to a jurisdiction
//     (internal/httpauth); the key of the Ollama API too, whose
//     generations go through the router (inference/ollama.HandlerBackend).
//   - Gate: the compliance check every import passes (add, mirror, bundle
//     import, pull) before its commit (package gate); Daemon.Gate and
//     home.Home.OpenCompliance give it the node's policy and audit log.
//   - Quarantined revision: stored but not served over the HF API (451),
//     not answered to members, not loaded for inference, until a signed
//     release lifts it (gate.QuarantineError, gate.CheckQuarantine); a pulled
//     revision's release is asked of its sources (p2p/release).
//   - Provenance: publisher signatures of manifests and model.sig bundles
//     of revisions, checked before a manifest is served to a member or a
//     pulled one committed (package provenance); refusals audited.
//   - ML-BOM: the CycloneDX document of a revision (bom/bomstore), served
//     at /api/models/{org}/{name}/bom.
package node
