// Package pull makes a revision present in a node's store from the
// members that hold it: it finds the manifest (asking every connected
// member at once, after discovering holders beyond them), fetches the
// revision's blocks from the nearest sources while every file's sha256 is
// checked (and, with an output folder, the file written) as its blocks
// arrive, has the node check the result, commits it and announces it.
//
// The answering side is here too: ServeCatalog answers members' manifest
// queries (p2p/catalog) from the store and, as a partial holder, from the
// swarm's revisions; Roots lists what a node announces to the DHT.
//
// node builds one Service in StartDaemon over small interfaces of what it
// needs of the node (Store, Host, Holdings, Policy, Checks, Fetcher); its
// callers are node's Daemon.Pull (cli's get and load commands, the
// replicator, the Hugging Face API's pull-through, the Ollama API's pull)
// and the repair worker's holder search (Sources).
//
// Words:
//   - Pull: making a revision present locally from the nearest members
//     that hold it and may send it; every file's sha256 checked before
//     its ref is set.
//   - Source: a member whose manifest answer has the commit the pull
//     fetches; the nearest answer wins.
//   - Swarm: the revisions a node is fetching, served to others while they
//     arrive (one fetch.Haves shared by the fetch client and server, the
//     catalog answering as a partial holder); a pull's sources are the
//     members that answered plus every other connected one the policy
//     lets hold the repo (candidates).
//   - Discovery: finding holders beyond the connected members, from the
//     gossiped holdings (with their addresses), else from the DHT's
//     provider records of RevisionKey, and dialling them on demand.
//   - RevisionKey: the DHT key of kind repo@rev that holders announce
//     (Roots, after each pull).
package pull
