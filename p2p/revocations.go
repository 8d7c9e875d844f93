package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairnhub/cairn/sovereignty"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// AddRevocations installs a signed revocation list (from `cairn org revoke`, say),
// disconnects members it revokes, and gossips it to the remaining members. A list not
// newer than the one held returns sovereignty.ErrStale.
func (h *Host) AddRevocations(ctx context.Context, signed []byte) error {
	if err := h.deps.Trust.AddRevocations(signed); err != nil {
		return fmt.Errorf("p2p: revocation list: %w", err)
	}
	h.installed(signed)
	h.reverify()
	h.push(ctx, signed, "")
	return nil
}

// versions lists the revocation list versions held, for the hello.
func (h *Host) versions() []orgVersion {
	var out []orgVersion
	for _, k := range h.deps.Trust.Orgs() {
		if _, v := h.deps.Trust.RevocationList(k); v > 0 {
			out = append(out, orgVersion{OrgKey: k, Version: v})
			if len(out) == maxVersions {
				break
			}
		}
	}
	return out
}

// listsNewerThan returns the signed lists held that are newer than theirs, as many as
// fit in one message.
func (h *Host) listsNewerThan(theirs []orgVersion) [][]byte {
	var out [][]byte
	size := 1024
	for _, k := range h.deps.Trust.Orgs() {
		l, v := h.deps.Trust.RevocationList(k)
		if v == 0 {
			continue
		}
		var have uint64
		for _, t := range theirs {
			if t.OrgKey.Equal(k) {
				have = t.Version
			}
		}
		if have >= v || size+len(l)+16 > MaxMessageSize || len(out) == maxLists {
			continue
		}
		size += len(l) + 16
		out = append(out, l)
	}
	return out
}

// installLists installs lists received from peer from; new ones trigger re-verification
// and are gossiped on.
func (h *Host) installLists(lists [][]byte, from peer.ID) {
	var fresh [][]byte
	for _, l := range lists {
		err := h.deps.Trust.AddRevocations(l)
		switch {
		case err == nil:
			fresh = append(fresh, l)
			h.installed(l)
		case errors.Is(err, sovereignty.ErrStale), errors.Is(err, sovereignty.ErrUntrustedOrg):
			// Re-delivered, or a list of an organisation this node does not trust
			// (peers cannot know which ones we trust, so they offer every list).
		default:
			h.log.Warn("revocation list from peer rejected", "peer", from, "err", err)
		}
	}
	if len(fresh) == 0 {
		return
	}
	h.log.Info("revocation lists installed", "from", from, "count", len(fresh))
	h.reverify()
	for _, l := range fresh {
		h.push(context.Background(), l, from)
	}
}

// push sends a list to every member but skip, in the background; each send is bounded
// by the hello timeout.
func (h *Host) push(ctx context.Context, list []byte, skip peer.ID) {
	for _, p := range h.Peers() {
		if p.ID == skip {
			continue
		}
		go func(p peer.ID) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.HelloTimeout)
			defer cancel()
			s, err := h.gated.NewStream(ctx, p, ProtocolRevocations)
			if err != nil {
				h.log.Debug("revocation push", "peer", p, "err", err)
				return
			}
			defer s.Close()
			_ = s.SetDeadline(time.Now().Add(h.cfg.HelloTimeout))
			if err := writeMessage(s, &message{Lists: [][]byte{list}}); err != nil {
				_ = s.Reset()
				h.log.Debug("revocation push", "peer", p, "err", err)
			}
		}(p.ID)
	}
}

func (h *Host) handleRevocations(s network.Stream) {
	p := s.Conn().RemotePeer()
	_ = s.SetDeadline(time.Now().Add(h.cfg.HelloTimeout))
	m, err := readMessage(bufio.NewReader(s), MaxMessageSize)
	if err != nil {
		_ = s.Reset()
		h.log.Debug("revocation push", "peer", p, "err", err)
		return
	}
	_ = s.Close()
	h.installLists(m.Lists, p)
}

func (h *Host) installed(signed []byte) {
	if h.deps.OnRevocations != nil {
		h.deps.OnRevocations(signed)
	}
}
