// Package testnet is the shared harness of multi-node tests, in the manner
// of boxo's bitswap/testnet: a Net of one organisation's nodes in this
// process, each with a real libp2p host on 127.0.0.1 (membership
// certificates, the member hello), a real badger store in t.TempDir(),
// and the catalog and fetch protocols, so a node can Pull a revision from
// the others. Services under test (the replicator, policy sync) start on
// each node through NodeOptions.Setup and Node.Go, and stop with it.
// Callers: the tests of replicate.
//
// Words:
//   - Net: the organisation (its key) and its nodes.
//   - Node: one peer: identity kept across Stop and Start, so a stopped
//     node comes back as the same peer with the same store.
//   - Stop: end the node's services, close its host and store; the others
//     see a crash.
//   - Mesh: every running node sees every other as a member (WaitMesh).
//   - Eventually: the one wait of these tests: poll a condition until it
//     holds or a timeout passes, then fail naming what was missing.
package testnet
