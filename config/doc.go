// Package config is a node's configuration: the plain structs read from
// config.yaml (Config and its sections), their documented defaults
// (WithDefaults), their checks (Validate), and the file `cairn init`
// writes (DefaultYAML). node loads it with the home (node.LoadHome) and
// builds every service from it; cli reads a few fields directly (interop
// peers, the upstream, provenance to verify a mirrored model.sig).
//
// Words:
//   - Section: one top-level key of config.yaml (store, http, upstream,
//     p2p, inference, replication, provenance), one struct here (the
//     replication section is replicate.Config).
//   - Default: the value a zero field means, stated on the field and
//     spelled out in DefaultYAML; WithDefaults fills it in.
//   - Duration: a time.Duration written as "5m" in YAML.
//   - Cluster: the replication and provenance sections alone, as tests
//     and tools that set up a cluster read and write them (LoadCluster,
//     SaveCluster; a saved file loses its comments).
//   - Provenance: which manifest signatures count (publisher keys,
//     require_signed) and the keys and roots trusted for model.sig
//     bundles (ModelSigTrust).
package config
