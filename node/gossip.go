package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p/gossip"
	"github.com/cairnhub/cairn/replicate"
	"github.com/cairnhub/cairn/sovereignty"
)

// The daemon's control plane: policy, revocation lists, certificate
// renewals, pin intents, holdings, model adverts and audit checkpoints
// travel over p2p/gossip, so a change reaches every member of the
// organisation, not only the connected ones, and a node that joins late
// catches up from one neighbour.

// startGossip joins the organisation's topic family on the host.
func (d *Daemon) startGossip(ctx context.Context, trust, policyTrust *sovereignty.Trust, cert []byte) (err error) {
	d.Gossip, err = gossip.New(ctx, d.Host.Libp2p(), gossip.Config{}, gossip.Deps{
		Members: d.Host, Verifier: trust, Certificate: cert, Logger: d.log,
		Documents:  documents{policy: policyTrust, revocations: trust},
		CheckAudit: checkCheckpoint,
		Handlers: gossip.Handlers{
			Policy:      d.gossipPolicy,
			Revocations: d.gossipRevocations,
			Certificate: func(author peer.ID, _ []byte) { d.log.Info("member renewed its certificate", "peer", author) },
			Intent:      d.gossipIntent,
			Holdings:    d.gossipHoldings,
			Advert:      d.gossipAdvert,
			Audit:       d.gossipCheckpoint,
		},
	})
	if err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	// Every checkpoint this node signs goes to every member's book.
	d.OnCheckpoint(func(cp sovereignty.Checkpoint) {
		if err := d.PublishCheckpoint(context.WithoutCancel(ctx), cp); err != nil && !errors.Is(err, gossip.ErrStale) {
			d.log.Debug("publish audit checkpoint", "err", err)
		}
	})
	return nil
}

// documents checks policies against this node's own organisation (only it
// sets the residency policy) and revocation lists against every trusted one.
type documents struct{ policy, revocations *sovereignty.Trust }

func (x documents) CheckPolicy(signed []byte) (string, uint64, error) {
	return gossip.TrustDocuments{Trust: x.policy}.CheckPolicy(signed)
}

func (x documents) CheckRevocations(signed []byte) (string, uint64, error) {
	return gossip.TrustDocuments{Trust: x.revocations}.CheckRevocations(signed)
}

func (d *Daemon) gossipPolicy(author peer.ID, signed []byte) {
	if _, err := d.applyPolicy(signed); err != nil && !errors.Is(err, sovereignty.ErrStale) {
		d.log.Warn("policy from gossip not applied", "author", author, "err", err)
	}
}

func (d *Daemon) gossipRevocations(author peer.ID, signed []byte) {
	// The host installs it, saves it (OnRevocations) and disconnects the
	// members it revokes.
	if err := d.Host.AddRevocations(context.Background(), signed); err != nil && !errors.Is(err, sovereignty.ErrStale) {
		d.log.Warn("revocation list from gossip not installed", "author", author, "err", err)
	}
}

func (d *Daemon) gossipIntent(author peer.ID, in gossip.Intent) {
	if d.Replicator == nil {
		return
	}
	i, err := intentFromGossip(author, in)
	if err != nil {
		d.log.Warn("intent from gossip", "author", author, "err", err)
		return
	}
	d.Replicator.ReceiveIntent(author, i)
}

func (d *Daemon) gossipHoldings(author peer.ID, h gossip.Holdings) {
	if d.Replicator == nil {
		return
	}
	m, ok := d.Gossip.Author(author)
	if !ok {
		return
	}
	d.Replicator.ReceiveHoldings(author, m, holdingsFromGossip(h))
}

// gossipAdvert only logs: the router reads the adverts from the control
// plane's state (RecentAdverts) when it looks for a model's servers.
func (d *Daemon) gossipAdvert(author peer.ID, a gossip.Advert) {
	d.log.Debug("model advert", "peer", author, "models", len(a.Models), "load", a.Load)
}

func (d *Daemon) gossipCheckpoint(author peer.ID, c gossip.Checkpoint) {
	cp, err := sovereignty.ParseCheckpoint(c.Signed)
	if err != nil {
		return // checkCheckpoint let it through: cannot happen
	}
	if err := d.KeepCheckpoint(*cp); err != nil && !errors.Is(err, sovereignty.ErrStale) {
		d.log.Warn("audit checkpoint refused", "peer", author, "err", err)
	}
}

// PublishCheckpoint gossips this node's latest audit checkpoint, for
// others' CheckpointBooks (the audit side calls it after each checkpoint).
func (d *Daemon) PublishCheckpoint(ctx context.Context, cp sovereignty.Checkpoint) error {
	if d.Gossip == nil {
		return errors.New("audit checkpoint: peer-to-peer is off")
	}
	return d.Gossip.PublishAudit(ctx, gossip.Checkpoint{Seq: cp.Seq + 1, Signed: cp.Marshal()})
}

// checkCheckpoint accepts a checkpoint signed by its author's own key.
func checkCheckpoint(author peer.ID, c gossip.Checkpoint) error {
	cp, err := sovereignty.ParseCheckpoint(c.Signed)
	if err != nil {
		return err
	}
	if err := cp.Verify(); err != nil {
		return err
	}
	pub, err := crypto.UnmarshalEd25519PublicKey(cp.Key)
	if err != nil {
		return err
	}
	if id, err := peer.IDFromPublicKey(pub); err != nil || id != author || cp.Node != author.String() {
		return fmt.Errorf("audit checkpoint of %s signed by another key than %s's", cp.Node, author)
	}
	return nil
}

// AddRevocations installs a signed revocation list on the running node
// (disconnecting the members it revokes) and gossips it to the others.
func (d *Daemon) AddRevocations(ctx context.Context, signed []byte) error {
	if d.Host == nil {
		return errors.New("revocations: peer-to-peer is off")
	}
	if err := d.Host.AddRevocations(ctx, signed); err != nil && !errors.Is(err, sovereignty.ErrStale) {
		return err
	}
	return d.Gossip.PublishRevocations(ctx, signed)
}

// Renew puts a renewed certificate of this node in force at once: saved in
// the home, presented in every hello from now on (refusals forgotten) and
// carried in every gossip message.
func (d *Daemon) Renew(ctx context.Context, cert []byte) error {
	if d.Host == nil {
		return errors.New("renew: peer-to-peer is off (restart the daemon after joining)")
	}
	if err := d.Host.SetCertificate(cert); err != nil {
		return err
	}
	d.log.Info("renewed certificate in force")
	if err := d.Gossip.PublishCertificate(ctx, cert); err != nil {
		d.log.Warn("renewed certificate not gossiped", "err", err)
	}
	return nil
}

// replicaGossip is the control plane as the replicator publishes on it.
// It holds the daemon: the replicator is built before the control plane,
// so that catch-up never delivers an intent before it exists.
type replicaGossip struct{ d *Daemon }

func (x replicaGossip) PublishIntent(ctx context.Context, i replicate.Intent) error {
	return x.d.Gossip.PublishIntent(ctx, gossip.Intent{Key: i.Key(), Commit: i.Commit, Replicas: i.Replicas, Version: i.Version, Removed: i.Removed})
}

func (x replicaGossip) PublishHoldings(ctx context.Context, h replicate.Holdings) error {
	out := gossip.Holdings{Seq: h.Seq, Capacity: uint64(max(h.Capacity, 0)), Mirror: h.Mirror}
	for _, a := range x.d.Host.AddrInfo().Addrs {
		if len(out.Addrs) < gossip.MaxAddrs && len(a.Bytes()) <= gossip.MaxAddr {
			out.Addrs = append(out.Addrs, a.Bytes())
		}
	}
	for _, x := range h.Held {
		out.Held = append(out.Held, gossip.Held{Key: x.Key(), Commit: x.Commit, Replica: x.Replica})
	}
	return x.d.Gossip.PublishHoldings(ctx, out)
}

// splitKey reads "kind/org/name@revision" (a revision has no '@').
func splitKey(key string) (kind manifest.Kind, repo, rev string, err error) {
	k, rest, ok := strings.Cut(key, "/")
	at := strings.LastIndexByte(rest, '@')
	if !ok || at < 0 {
		return "", "", "", fmt.Errorf("key %q: want kind/org/name@revision", key)
	}
	return manifest.Kind(k), rest[:at], rest[at+1:], nil
}

func intentFromGossip(author peer.ID, in gossip.Intent) (replicate.Intent, error) {
	kind, repo, rev, err := splitKey(in.Key)
	if err != nil {
		return replicate.Intent{}, err
	}
	i := replicate.Intent{Kind: kind, Repo: repo, Revision: rev, Commit: in.Commit, Replicas: in.Replicas,
		Version: in.Version, Removed: in.Removed, By: author.String()}
	return i, i.Validate()
}

func holdingsFromGossip(h gossip.Holdings) replicate.Holdings {
	out := replicate.Holdings{Seq: h.Seq, Capacity: int64(min(h.Capacity, 1<<62)), Mirror: h.Mirror, Held: []replicate.Held{}}
	for _, x := range h.Held {
		kind, repo, rev, err := splitKey(x.Key)
		if err != nil || x.Partial {
			continue
		}
		out.Held = append(out.Held, replicate.Held{Kind: kind, Repo: repo, Revision: rev, Commit: x.Commit, Replica: x.Replica})
	}
	return out
}

// meshDelay is how long after a member connects its gossip mesh links
// stand (GossipSub grafts at its next heartbeat, every second).
const meshDelay = 2 * time.Second

// repairGossip asks each member that connects for the control plane's
// state once its mesh links stand: a message relayed to this node in the
// heartbeat before the mesh with the newcomer formed is relayed to nobody,
// and in a sparse network (a chain) that neighbour may be the only way on.
// The newcomer gets it from its own catch-up; this node gets what the
// newcomer knew. One exchange at a time.
func (d *Daemon) repairGossip(ctx context.Context) error {
	events := d.Host.Subscribe(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if !ev.Joined {
				continue
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(meshDelay):
			}
			if _, ok := d.Host.Member(ev.Peer); !ok {
				continue
			}
			if _, err := d.Gossip.CatchUp(ctx, ev.Peer); err != nil {
				d.log.Debug("control plane repair", "peer", ev.Peer, "err", err)
			}
		}
	}
}
