// Package p2p is Cairn's libp2p host: transports (QUIC and TCP), certificate-gated
// membership, discovery (Kademlia DHT, mDNS, static bootstrap peers), bitswap for blocks,
// revocation gossip and per-peer round-trip times.
//
// Words used here:
//
//   - member: a connected peer whose node certificate this host verified (trusted
//     organisation, good signature, issued to the peer ID of the connection, valid now,
//     not revoked). Only members are served by any Cairn protocol.
//   - hello: the first exchange on every new connection, on /cairn/member/1.0.0. The
//     side that dialled sends its certificate and the versions of the revocation lists
//     it holds; the other side verifies, answers with its own certificate, versions and
//     any newer lists; the dialler closes with the lists the other side lacks.
//   - stream gate: before membership a peer gets the hello and nothing else. Every
//     stream of the libp2p host, inbound or outbound, on any protocol (identify and
//     identify push, ping, relay, AutoNAT, hole punching, the Cairn protocols) is held
//     when the resource manager is told its protocol, until the peer proves
//     membership (up to Config.HelloTimeout), and reset if it does not. So a stranger
//     learns no agent, protocol list or address from identify, and this host takes
//     none from the stranger's. The hello itself opens without waiting for identify.
//     Interop peers pass the gate; multistream still tells anyone which protocol IDs
//     are served.
//   - refused: a peer whose certificate failed verification (or that never sent one in
//     time). It is disconnected and the connection gater turns it away for
//     Config.RefuseFor.
//   - gated protocol: a stream protocol registered through (*Host).Handle or through the
//     host returned by (*Host).Libp2p. Incoming streams wait (up to Config.HelloTimeout)
//     for the hello to finish and are reset unless the peer is a member; outgoing streams
//     likewise open only to members. The DHT and bitswap run on that gated host.
//   - revocation gossip: a newer signed revocation list, from the hello or from
//     /cairn/revocations/1.0.0, is installed in the trust set, every member is
//     re-verified (revoked ones are disconnected and refused), and the list is pushed on
//     to the remaining members.
//   - root: the CID of a repo revision or of a file; only roots are announced to the
//     DHT (Provide), never every leaf, so announcing scales with repos, not blocks.
//   - interop peer: a plain IPFS node (Kubo, say) listed in Config.InteropPeers.
//     Opt-in. The connection gater admits it without a certificate and no hello is
//     asked of it; it is never a member, so no Cairn protocol serves it. A second
//     bitswap, on the standard /ipfs/bitswap protocols, sees only interop peers:
//     it serves them blocks (each request passes the same BlockFilter, with the
//     peer treated as a member of jurisdiction Config.InteropJurisdiction, so the
//     residency policy still applies) and fetches from them (InteropGetBlock,
//     InteropExchange). Streams on the standard protocols from anyone else are
//     reset unread.
//   - RTT: round-trip time to a member, from the libp2p ping protocol (kept as an
//     exponentially weighted average), falling back to the peerstore's LatencyEWMA.
//
// PSK mode (Config.PSK) TURNS QUIC OFF: go-libp2p refuses a pre-shared key on QUIC,
// so such a host runs TCP only and cannot talk to hosts that are not in PSK mode with
// the same key. It adds network-level isolation for operators who want it; membership
// by certificate still applies on top.
//
// Member protocol messages are framed as a uvarint length and a body: format version
// (1), certificate (uvarint length + bytes), revocation list versions (uvarint count,
// then 32-byte organisation key + uvarint version each), signed revocation lists
// (uvarint count, then uvarint length + bytes each). Lengths and counts are bounded
// before anything is allocated; the dialler's first message, read before its sender is
// verified, is limited to 16 KiB.
package p2p
