// Package node is Cairn's composition root: it owns the node home on disk,
// loads the configuration, builds the concrete store, host and servers,
// and runs them as supervised services.
//
// Words:
//   - Home: the folder of one node (default ~/.cairn): config.yaml, the
//     libp2p identity key, the badger store, the membership certificate,
//     trusted organisation keys, the residency policy and the audit log.
//   - Config: the plain struct read from config.yaml; a zero field means
//     the default stated on it.
//   - Service: anything with Run(ctx) error; the node runs them together
//     and stops all when one fails or the context ends.
package node
