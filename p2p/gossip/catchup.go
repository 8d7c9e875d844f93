package gossip

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairnhub/cairn/p2p/rpc"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
)

// stateKinds are the kinds a late joiner asks for: audit checkpoints are
// events, not state.
var stateKinds = []Kind{KindPolicy, KindRevocations, KindCertificate, KindIntent, KindHoldings, KindAdvert}

// CatchUpResult counts what one catch-up brought.
type CatchUpResult struct {
	Messages int // in the answer
	Applied  int // accepted and delivered
	Ignored  int // not newer than what this node held
}

// CatchUp asks member p for the current state (the latest message of every
// origin of every state kind) and runs each message through the same checks
// as gossip, plus the author's signature pubsub would have checked. Accepted
// ones reach the handlers; they are not relayed. An answer with an invalid
// message returns an error (after applying the valid ones).
func (g *Gossip) CatchUp(ctx context.Context, p peer.ID) (CatchUpResult, error) {
	var res CatchUpResult
	ctx, cancel := context.WithTimeout(ctx, g.cfg.CatchUpTimeout)
	defer cancel()
	ans, err := rpc.Request(ctx, g.h, p, ProtocolState, encodeRequest(stateKinds), g.cfg.MaxState)
	if err != nil {
		return res, fmt.Errorf("gossip: catch-up from %s: %w", p, err)
	}
	msgs, err := decodeState(ans, maxPubsubMessage)
	if err != nil {
		return res, fmt.Errorf("gossip: catch-up from %s: %w", p, err)
	}
	res.Messages = len(msgs)
	var bad []error
	for _, raw := range msgs {
		switch r, err := g.apply(p, raw); r {
		case pubsub.ValidationAccept:
			res.Applied++
		case pubsub.ValidationIgnore:
			res.Ignored++
		default:
			bad = append(bad, err)
		}
	}
	if len(bad) > 0 {
		return res, fmt.Errorf("gossip: catch-up from %s: %d invalid messages, first: %w", p, len(bad), bad[0])
	}
	return res, nil
}

// apply validates one stored message from p's catch-up answer and delivers it.
func (g *Gossip) apply(p peer.ID, raw []byte) (pubsub.ValidationResult, error) {
	m, err := parseStored(raw)
	if err != nil {
		return pubsub.ValidationReject, err
	}
	k, ok := g.kinds[m.GetTopic()]
	if !ok || k == KindAudit {
		return pubsub.ValidationReject, fmt.Errorf("%w: topic %.80q not in catch-up", ErrMalformed, m.GetTopic())
	}
	msg := &pubsub.Message{Message: m, ReceivedFrom: p}
	r := g.validate(k, p, msg)
	if r == pubsub.ValidationAccept {
		g.deliver(k, msg.ValidatorData.(*update))
	}
	if r == pubsub.ValidationReject {
		return r, fmt.Errorf("%w: a %s message that does not validate", ErrMalformed, k)
	}
	return r, nil
}

// parseStored decodes a stored pubsub message and checks its author's
// signature, as pubsub's strict signing does on receipt.
func parseStored(raw []byte) (*pb.Message, error) {
	m := &pb.Message{}
	if err := proto.Unmarshal(raw, m); err != nil {
		return nil, fmt.Errorf("%w: stored message: %w", ErrMalformed, err)
	}
	if len(m.GetSignature()) == 0 || len(m.GetSeqno()) == 0 {
		return nil, fmt.Errorf("%w: stored message unsigned", ErrMalformed)
	}
	author, err := peer.IDFromBytes(m.GetFrom())
	if err != nil {
		return nil, fmt.Errorf("%w: stored message author: %w", ErrMalformed, err)
	}
	var pub crypto.PubKey
	if m.Key != nil {
		if pub, err = crypto.UnmarshalPublicKey(m.Key); err == nil && !author.MatchesPublicKey(pub) {
			err = errors.New("key does not match the author")
		}
	} else {
		pub, err = author.ExtractPublicKey()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: stored message key: %w", ErrMalformed, err)
	}
	unsigned := proto.CloneOf(m)
	unsigned.Signature, unsigned.Key = nil, nil
	b, err := proto.Marshal(unsigned)
	if err != nil {
		return nil, fmt.Errorf("%w: stored message: %w", ErrMalformed, err)
	}
	if ok, err := pub.Verify(append([]byte(pubsub.SignPrefix), b...), m.Signature); err != nil || !ok {
		return nil, fmt.Errorf("%w: stored message of %s: bad signature", ErrMalformed, author)
	}
	return m, nil
}

// handleState answers a member's catch-up request with the stored messages.
func (g *Gossip) handleState(s network.Stream) {
	p := s.Conn().RemotePeer()
	if _, ok := g.deps.Members.Member(p); !ok {
		_ = s.Reset()
		return
	}
	req, err := rpc.Read(s, 16)
	if err != nil {
		_ = s.Reset()
		return
	}
	kinds, err := decodeRequest(req)
	if err != nil {
		g.log.Debug("catch-up request", "peer", p, "err", err)
		_ = s.Reset()
		return
	}
	msgs := g.state.raws(kinds, g.cfg.MaxState-16)
	if err := rpc.Reply(s, encodeState(msgs)); err != nil {
		g.log.Debug("catch-up answer", "peer", p, "err", err)
	}
}

// watch starts catch-up from the first peer that connects while this node
// has not caught up: after start, and again after it lost every connection.
func (g *Gossip) watch(ctx context.Context) error {
	sub, err := g.h.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		return fmt.Errorf("gossip: watch connections: %w", err)
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-sub.Out():
				e := ev.(event.EvtPeerConnectednessChanged)
				switch {
				case e.Connectedness == network.Connected:
					g.catchUpFrom(ctx, e.Peer)
				case len(g.h.Network().Peers()) == 0:
					g.caughtUp.Store(false)
				}
			}
		}
	}()
	return nil
}

// catchUpFrom runs one catch-up in the background unless one runs or the
// node has caught up already: one neighbour is asked, not all.
func (g *Gossip) catchUpFrom(ctx context.Context, p peer.ID) {
	if g.caughtUp.Load() || !g.catching.CompareAndSwap(false, true) {
		return
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer g.catching.Store(false)
		r, err := g.CatchUp(ctx, p)
		if err != nil {
			g.log.Info("catch-up failed; the next connection tries again", "peer", p, "err", err)
			return
		}
		g.caughtUp.Store(true)
		g.log.Info("caught up", "peer", p, "messages", r.Messages, "applied", r.Applied)
	}()
}

// CaughtUp reports whether a catch-up succeeded since the node last had
// no connection.
func (g *Gossip) CaughtUp() bool { return g.caughtUp.Load() }
