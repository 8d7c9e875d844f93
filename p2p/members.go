package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cairnhub/cairn/sovereignty"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	ma "github.com/multiformats/go-multiaddr"
)

var (
	// ErrRefused: the peer failed membership; the wrapped reason says why.
	ErrRefused = errors.New("peer refused")
	// ErrNoCertificate: the peer presented no certificate.
	ErrNoCertificate = errors.New("no certificate presented")
	// ErrHelloTimeout: the peer did not complete the hello in time.
	ErrHelloTimeout = errors.New("membership not proved in time")
	// ErrNotConnected: the peer is not connected (and so cannot be a member).
	ErrNotConnected = errors.New("peer not connected")
	// ErrNotMember: the peer is connected without membership (an interop peer).
	ErrNotMember = errors.New("not a member")
)

type memberEntry struct {
	member *sovereignty.Member
	cert   []byte // kept to re-verify when revocations arrive or time passes
}

type refusal struct {
	at, until time.Time
	reason    error
	// transient: the hello broke on I/O, not on a certificate; it only slows
	// reconnects and never stops this host from dialling the peer.
	transient bool
}

// MemberEvent tells that a peer joined (proved membership) or left (disconnected or was
// refused after a revocation or expiry).
type MemberEvent struct {
	Peer   peer.ID
	Member *sovereignty.Member
	Joined bool // false: left
}

// Member returns the verified certificate attributes of p while it is a connected
// member.
func (h *Host) Member(p peer.ID) (*sovereignty.Member, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.members[p]
	if !ok {
		return nil, false
	}
	return e.member, true
}

// Refused reports whether p is currently refused, and why.
func (h *Host) Refused(p peer.ID) (error, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.refused[p]
	if !ok || time.Now().After(r.until) {
		return nil, false
	}
	return r.reason, true
}

func (h *Host) isRefused(p peer.ID) bool {
	_, ok := h.Refused(p)
	return ok
}

func (h *Host) certificate() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.deps.Certificate
}

// SetCertificate puts a renewed certificate in force: it must verify for this
// node now. Every refusal is forgotten (the old certificate may have been why
// a hello failed), so the host dials those peers again and presents the new
// one, which they admit at once; connected members get it at the next hello.
func (h *Host) SetCertificate(cert []byte) error {
	if _, err := h.deps.Trust.VerifyBytes(cert, h.raw.ID().String(), time.Now()); err != nil {
		return fmt.Errorf("p2p: new certificate: %w", err)
	}
	h.mu.Lock()
	h.deps.Certificate = cert
	clear(h.refused)
	h.mu.Unlock()
	h.log.Info("certificate renewed")
	return nil
}

// blocksDial reports whether p is refused for its certificate: such a peer
// is not dialled until the refusal ends.
func (h *Host) blocksDial(p peer.ID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.refused[p]
	return ok && !r.transient && time.Now().Before(r.until)
}

// refusedWithin reports whether p was refused less than d ago (and still is).
func (h *Host) refusedWithin(p peer.ID, d time.Duration) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.refused[p]
	now := time.Now()
	return ok && now.Before(r.until) && now.Sub(r.at) < d
}

// Subscribe returns a channel of membership events, closed when ctx ends. Events are
// dropped (and logged) when the reader falls 256 behind; Peers gives the current state.
func (h *Host) Subscribe(ctx context.Context) <-chan MemberEvent {
	ch := make(chan MemberEvent, 256)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		delete(h.subs, ch)
		close(ch)
		h.mu.Unlock()
	}()
	return ch
}

// notifyLocked sends ev to subscribers and wakes waiters; h.mu is held.
func (h *Host) notifyLocked(ev *MemberEvent) {
	close(h.changed)
	h.changed = make(chan struct{})
	if ev == nil {
		return
	}
	for ch := range h.subs {
		select {
		case ch <- *ev:
		default:
			h.log.Warn("member event dropped, subscriber too slow", "peer", ev.Peer, "joined", ev.Joined)
		}
	}
}

// waitMember waits until p is a member, is refused, disconnects, or the hello
// timeout passes.
func (h *Host) waitMember(ctx context.Context, p peer.ID) (*sovereignty.Member, error) {
	timer := time.NewTimer(h.cfg.HelloTimeout)
	defer timer.Stop()
	for {
		h.mu.Lock()
		e, ok := h.members[p]
		r, refused := h.refused[p]
		changed := h.changed
		h.mu.Unlock()
		if ok {
			return e.member, nil
		}
		if h.isInterop(p) {
			// An interop peer never says hello; it gets the standard bitswap only.
			return nil, fmt.Errorf("%w: an interop peer is served standard bitswap only", ErrNotMember)
		}
		if refused && time.Now().Before(r.until) {
			return nil, fmt.Errorf("%w: %w", ErrRefused, r.reason)
		}
		if h.raw.Network().Connectedness(p) != network.Connected {
			return nil, ErrNotConnected
		}
		select {
		case <-changed:
		case <-timer.C:
			return nil, ErrHelloTimeout
		case <-ctx.Done():
			return nil, ctx.Err()
		// Disconnection is not a membership change; poll for it.
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (h *Host) verify(cert []byte, p peer.ID) (*sovereignty.Member, error) {
	if len(cert) == 0 {
		return nil, ErrNoCertificate
	}
	return h.deps.Trust.VerifyBytes(cert, p.String(), time.Now())
}

func (h *Host) admit(p peer.ID, m *sovereignty.Member, cert []byte) {
	h.mu.Lock()
	if h.raw.Network().Connectedness(p) != network.Connected {
		h.mu.Unlock()
		return
	}
	_, was := h.members[p]
	h.members[p] = &memberEntry{member: m, cert: cert}
	delete(h.refused, p)
	if was {
		h.notifyLocked(nil)
	} else {
		h.notifyLocked(&MemberEvent{Peer: p, Member: m, Joined: true})
	}
	h.mu.Unlock()
	if !was {
		h.log.Info("member joined", "peer", p, "org", m.Org, "region", m.Region, "jurisdiction", m.Jurisdiction)
		go h.addToRoutingTable(p)
		go h.measure(p)
	}
}

// addToRoutingTable puts a new member into the DHT routing table, which our filter
// kept it out of while it was unverified. It waits for identify to learn whether
// the peer runs the DHT: identify runs once both sides hold each other as members
// (gate.go), so it completes shortly after the hello. Identify has one try per
// connection within go-libp2p's 5 s, hello included; when it taught nothing (a
// slow hello), the DHT protocol is negotiated instead.
func (h *Host) addToRoutingTable(p peer.ID) {
	if ids, ok := h.raw.(interface{ IDService() identify.IDService }); ok {
		for _, c := range h.raw.Network().ConnsToPeer(p) {
			select {
			case <-ids.IDService().IdentifyWait(c):
			case <-time.After(h.cfg.HelloTimeout):
			}
		}
	}
	kad := ProtocolPrefix + "/kad/1.0.0"
	if known, _ := h.raw.Peerstore().GetProtocols(p); len(known) == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.HelloTimeout)
		// On success go-libp2p records the protocol in the peerstore.
		if s, err := h.raw.NewStream(ctx, p, kad); err == nil {
			_ = s.Close()
		}
		cancel()
	}
	if ok, _ := h.raw.Peerstore().SupportsProtocols(p, kad); len(ok) > 0 {
		if _, isMember := h.Member(p); isMember {
			_, _ = h.dht.RoutingTable().TryAddPeer(p, true, false)
		}
	}
}

// shortRefusal is how long a peer whose hello failed on I/O (not on its certificate)
// stays refused: long enough to stop a reconnect loop, short enough that a member hit
// by a transient fault is back soon.
const shortRefusal = 30 * time.Second

// helloFailed handles a hello that broke on I/O rather than on a certificate. A peer
// already verified over another connection stays a member (a connection closing
// mid-hello is not its fault); any other peer is refused briefly.
func (h *Host) helloFailed(p peer.ID, err error) {
	if _, ok := h.Member(p); ok {
		h.log.Debug("hello failed on a member's extra connection", "peer", p, "err", err)
		return
	}
	h.refuseFor(p, err, shortRefusal)
	h.mu.Lock()
	if r, ok := h.refused[p]; ok {
		r.transient = true
		h.refused[p] = r
	}
	h.mu.Unlock()
}

// refuse disconnects p and turns it away for Config.RefuseFor.
func (h *Host) refuse(p peer.ID, reason error) { h.refuseFor(p, reason, h.cfg.RefuseFor) }

// refuseFor disconnects p and turns it away for d.
func (h *Host) refuseFor(p peer.ID, reason error, d time.Duration) {
	h.mu.Lock()
	e, was := h.members[p]
	delete(h.members, p)
	delete(h.rtt, p)
	now := time.Now()
	for q, r := range h.refused {
		if now.After(r.until) {
			delete(h.refused, q)
		}
	}
	h.refused[p] = refusal{at: now, until: now.Add(min(d, h.cfg.RefuseFor)), reason: reason}
	if was {
		h.notifyLocked(&MemberEvent{Peer: p, Member: e.member})
	} else {
		h.notifyLocked(nil)
	}
	h.mu.Unlock()
	h.log.Warn("peer refused", "peer", p, "reason", reason)
	if h.deps.OnRefused != nil && !errors.Is(reason, ErrRefused) {
		h.deps.OnRefused(p, reason)
	}
	if h.dht != nil {
		h.dht.RoutingTable().RemovePeer(p)
	}
	_ = h.raw.Network().ClosePeer(p)
}

// leave forgets a member whose last connection closed.
func (h *Host) leave(p peer.ID) {
	h.mu.Lock()
	e, was := h.members[p]
	delete(h.members, p)
	delete(h.rtt, p)
	if was {
		h.notifyLocked(&MemberEvent{Peer: p, Member: e.member})
	}
	h.mu.Unlock()
	if was {
		h.log.Info("member left", "peer", p)
	}
}

// reverify checks every member's certificate again (after a revocation list arrives,
// and periodically for expiry) and refuses those that no longer pass.
func (h *Host) reverify() {
	h.mu.Lock()
	type pc struct {
		p    peer.ID
		cert []byte
	}
	var all []pc
	for p, e := range h.members {
		all = append(all, pc{p, e.cert})
	}
	h.mu.Unlock()
	for _, x := range all {
		if _, err := h.verify(x.cert, x.p); err != nil {
			h.refuse(x.p, err)
		}
	}
}

// hello runs the dialler's side of the member protocol.
func (h *Host) hello(p peer.ID) {
	h.mu.Lock()
	if h.helloing[p] {
		h.mu.Unlock()
		return
	}
	h.helloing[p] = true
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.helloing, p)
		h.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.HelloTimeout)
	defer cancel()
	s, err := h.openHello(ctx, p)
	if err != nil {
		if h.raw.Network().Connectedness(p) == network.Connected {
			h.helloFailed(p, err)
		}
		return
	}
	defer s.Close()
	if err := writeMessage(s, &message{Cert: h.certificate(), Versions: h.versions()}); err != nil {
		_ = s.Reset()
		h.helloFailed(p, fmt.Errorf("hello: send: %w", err))
		return
	}
	r := bufio.NewReader(s)
	resp, err := readMessage(r, MaxMessageSize)
	if err != nil {
		_ = s.Reset()
		h.helloFailed(p, fmt.Errorf("hello: %w", err))
		return
	}
	if resp.Refusal != "" {
		h.log.Warn("this node's certificate was refused by a peer", "peer", p, "reason", resp.Refusal)
		h.helloFailed(p, fmt.Errorf("%w by the peer: %s", ErrRefused, resp.Refusal))
		return
	}
	m, err := h.verify(resp.Cert, p)
	if err != nil {
		sendRefusal(s, err)
		h.refuse(p, err)
		return
	}
	h.admit(p, m, resp.Cert)
	if err := writeMessage(s, &message{Lists: h.listsNewerThan(resp.Versions)}); err != nil {
		h.log.Debug("hello: sending revocation lists", "peer", p, "err", err)
	}
	_ = s.CloseWrite()
	h.installLists(resp.Lists, p)
}

// handleHello runs the answering side of the member protocol. It says nothing about
// this node until the dialler's certificate verified.
func (h *Host) handleHello(s network.Stream) {
	p := s.Conn().RemotePeer()
	_ = s.SetDeadline(time.Now().Add(h.cfg.HelloTimeout))
	r := bufio.NewReader(s)
	req, err := readMessage(r, maxFirstMessage)
	if err != nil {
		_ = s.Reset()
		h.helloFailed(p, fmt.Errorf("hello: %w", err))
		return
	}
	m, err := h.verify(req.Cert, p)
	if err != nil {
		sendRefusal(s, err)
		h.refuse(p, err)
		return
	}
	h.admit(p, m, req.Cert)
	resp := &message{Cert: h.certificate(), Versions: h.versions(), Lists: h.listsNewerThan(req.Versions)}
	if err := writeMessage(s, resp); err != nil {
		_ = s.Reset()
		return
	}
	last, err := readMessage(r, MaxMessageSize)
	_ = s.Close()
	if err != nil {
		h.log.Debug("hello: reading revocation lists", "peer", p, "err", err)
		return
	}
	if last.Refusal != "" {
		h.log.Warn("this node's certificate was refused by a peer", "peer", p, "reason", last.Refusal)
		h.refuseFor(p, fmt.Errorf("%w by the peer: %s", ErrRefused, last.Refusal), shortRefusal)
		return
	}
	h.installLists(last.Lists, p)
}

// sendRefusal tells the peer why its certificate is refused, and waits
// (briefly) for it to read that before the caller disconnects it.
func sendRefusal(s network.Stream, reason error) {
	if err := writeMessage(s, &message{Refusal: reason.Error()}); err != nil {
		_ = s.Reset()
		return
	}
	_ = s.CloseWrite()
	_ = s.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, io.LimitReader(s, MaxMessageSize))
	_ = s.Close()
}

// watchHello disconnects a peer that has not proved membership in time: a plain
// libp2p node never opens the member protocol.
func (h *Host) watchHello(p peer.ID) {
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.HelloTimeout+time.Second)
	defer cancel()
	_, err := h.waitMember(ctx, p)
	if errors.Is(err, ErrHelloTimeout) || errors.Is(err, context.DeadlineExceeded) {
		if h.raw.Network().Connectedness(p) == network.Connected {
			if _, ok := h.Member(p); !ok {
				h.refuse(p, ErrHelloTimeout)
			}
		}
	}
}

// notifiee starts the hello on each new connection and notices departures.
type notifiee Host

func (n *notifiee) Listen(network.Network, ma.Multiaddr)      {}
func (n *notifiee) ListenClose(network.Network, ma.Multiaddr) {}

func (n *notifiee) Connected(_ network.Network, c network.Conn) {
	h := (*Host)(n)
	p := c.RemotePeer()
	// The hello runs on every outbound connection, even to a peer we hold as a member:
	// after a quick reconnect the other side may already have dropped us.
	if h.isInterop(p) {
		// Allow-listed IPFS peers (Kubo) have no certificate: no hello, no deadline.
		return
	}
	if c.Stat().Direction == network.DirOutbound {
		go h.hello(p)
	}
	go h.watchHello(p)
}

func (n *notifiee) Disconnected(nw network.Network, c network.Conn) {
	h := (*Host)(n)
	if nw.Connectedness(c.RemotePeer()) != network.Connected {
		h.leave(c.RemotePeer())
	}
}

// gater turns refused peers away at dial time and right after the secure handshake,
// before any stream is accepted. Unknown peers pass: they prove membership in the
// hello, which needs the connection. Interop peers (Config.InteropPeers) pass without
// a certificate; only the standard bitswap serves them.
type gater Host

// retryRefused is how soon a refused peer may connect again to present a
// certificate: long enough to stop a reconnect loop from costing anything.
const retryRefused = 2 * time.Second

func (g *gater) InterceptPeerDial(p peer.ID) bool {
	return (*Host)(g).isInterop(p) || !(*Host)(g).blocksDial(p)
}
func (g *gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool  { return true }

// InterceptSecured lets a refused peer connect again once retryRefused has passed
// since its refusal: it may come back with a renewed certificate, which the hello
// then admits at once (a bad one is refused again). Outbound, refused peers are
// not dialled until their refusal ends.
func (g *gater) InterceptSecured(dir network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	h := (*Host)(g)
	if h.isInterop(p) {
		return true
	}
	if dir == network.DirInbound {
		return !h.refusedWithin(p, retryRefused)
	}
	return !h.blocksDial(p)
}
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
