// Package node is Cairn's composition root. Open loads a home (package
// home) with its configuration (package config) and opens its store;
// StartDaemon builds every service of a running node explicitly, as
// fields of Daemon: the p2p host with its protocols (fetch, catalog,
// p2p/auditsync, p2p/release, the replicator's), the control plane
// (p2p/gossip), the pull service (pull), the Hugging Face API (hfapi),
// the OpenAI server (inference/openai) unless inference is disabled, the
// inference router in front of it (inference/router), the Ollama API over
// the router (inference/ollama), the model finder (inference/models), the
// repair worker (repair) and the metrics. Feature logic lives in those
// packages; node holds construction and the thin adapters they need of
// it. routes lays out every HTTP route in one place (behind
// internal/httpguard: Host check, CORS only for listed origins, JSON-only
// bodies on JSON endpoints, /metrics behind the tokens); Run runs the
// services together. cli turns flags into DaemonOptions and calls;
// nothing registers itself.
//
// Words:
//   - Node: an opened home (home.Home, embedded) with its config and store.
//   - DaemonOptions: what one run overrides of the config (`cairn daemon`
//     flags, CAIRN_INFERENCE_MEMORY through the router's config).
//   - Service: anything with Run(ctx) error; the daemon runs them together
//     and stops all when one fails or the context ends.
//   - Daemon: a running node: the services above, the HTTP API and the
//     CLI socket.
//   - Adapter: a small type of node's that gives a feature package what it
//     asks of the node: pullChecks (pull), replicaPuller and replicaGossip
//     (replicate), hfPuller (hfapi pull-through, mirroring from the
//     upstream Hub on a miss when the node has the mirror role),
//     ollamaPuller, repairFinder.
//   - Residency check: allowBlocks, the one check on every path that sends
//     blocks (bitswap, fetch); a block goes to a member when a repo
//     holding it lets the member's jurisdiction receive it.
//   - Import gate: the residency policy asked before any way in (add,
//     bundle import, mirror, pull) takes a repo; refusals and --force
//     overrides are audited (ImportGate); Daemon.Gate is the compliance
//     gate (package gate) with the daemon's policy and audit log.
//   - Served manifest: one a member's catalog query is answered with,
//     only when its provenance checks (package provenance), its revision
//     is not quarantined and its model.sig verifies (checkServed).
//   - max peers, relays: p2p.max_peers bounds the connections (relays and
//     transfers protected); mirrors offer circuit relay, edge nodes keep
//     reservations on their bootstrap peers (p2p.relay_service, p2p.relays).
//   - Audit checkpoints: kept and published through p2p/auditsync and
//     gossip (KeepCheckpoint, PublishCheckpoint), so `cairn audit verify
//     --peers` catches a log cut or rewritten behind members' copies.
package node
