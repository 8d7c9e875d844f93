package p2p

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// FindPeer looks up a peer's addresses: the peerstore's when it has some,
// else the DHT's. It does not dial.
func (h *Host) FindPeer(ctx context.Context, p peer.ID) (peer.AddrInfo, error) {
	if addrs := h.raw.Peerstore().Addrs(p); len(addrs) > 0 {
		return peer.AddrInfo{ID: p, Addrs: addrs}, nil
	}
	ai, err := h.dht.FindPeer(ctx, p)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("p2p: find peer %s: %w", p, err)
	}
	return ai, nil
}
