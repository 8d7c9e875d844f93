package gossip

import (
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// options are the GossipSub options of the control plane.
func (g *Gossip) options(topics []string) []pubsub.Option {
	params := pubsub.DefaultGossipSubParams()
	params.HeartbeatInterval = g.cfg.Heartbeat
	// IDONTWANT costs one more RPC to every mesh peer per message; it pays
	// for large messages only, and control messages are mostly small.
	params.IDontWantMessageThreshold = 16 << 10
	opts := []pubsub.Option{
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithGossipSubProtocols([]protocol.ID{ProtocolMeshsub}, features),
		pubsub.WithGossipSubParams(params),
		// The author sends to every neighbour, not only its mesh: a change
		// leaves at once even before the mesh forms.
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerScore(g.scoreParams(topics), g.thresholds()),
		pubsub.WithPeerScoreInspect(func(m map[peer.ID]float64) { g.scores.Store(&m) }, g.cfg.ScoreInspect),
		// Throttles validation for peers whose messages are mostly ignored
		// or rejected when the validation queue is under pressure.
		pubsub.WithPeerGater(pubsub.NewPeerGaterParams(0.33,
			pubsub.ScoreParameterDecay(2*time.Minute), pubsub.ScoreParameterDecay(10*time.Minute))),
		pubsub.WithMaxMessageSize(maxPubsubMessage),
		// A holdings round brings one message per member in a burst: the
		// default queue of 32 would drop most of them before validation.
		pubsub.WithValidateQueueSize(validateQueue),
		pubsub.WithPeerOutboundQueueSize(outboundQueue),
		// Peers cannot make this node track topics outside its family.
		pubsub.WithSubscriptionFilter(pubsub.NewAllowlistSubscriptionFilter(topics...)),
		pubsub.WithLogger(g.log),
	}
	if g.deps.Tracer != nil {
		opts = append(opts, pubsub.WithRawTracer(g.deps.Tracer))
	}
	return opts
}

// validateQueue bounds the messages waiting for validation, outboundQueue
// the RPCs waiting to be sent to one peer (pubsub's default of 32 drops
// part of a holdings round on a slow link).
const (
	validateQueue = 4096
	outboundQueue = 256
)

// features: ProtocolMeshsub is GossipSub v1.2 (mesh, peer exchange, IDONTWANT).
func features(f pubsub.GossipSubFeature, p protocol.ID) bool {
	if p != ProtocolMeshsub {
		return false
	}
	switch f {
	case pubsub.GossipSubFeatureMesh, pubsub.GossipSubFeaturePX, pubsub.GossipSubFeatureIdontwant:
		return true
	}
	return false
}

func (g *Gossip) thresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold:   g.cfg.GossipThreshold,
		PublishThreshold:  g.cfg.PublishThreshold,
		GraylistThreshold: g.cfg.GraylistThreshold,
		// Peer exchange is taken only from peers that delivered well.
		AcceptPXThreshold:           10,
		OpportunisticGraftThreshold: 3,
	}
}

// scoreParams: invalid messages weigh heavily and decay over an hour; first
// deliveries and time in mesh earn a little; many broken gossip promises cost.
// IP colocation is off: membership comes from certificates, and several
// members behind one NAT are normal.
func (g *Gossip) scoreParams(topics []string) *pubsub.PeerScoreParams {
	hour := pubsub.ScoreParameterDecay(time.Hour)
	ts := make(map[string]*pubsub.TopicScoreParams, len(topics))
	for _, t := range topics {
		ts[t] = &pubsub.TopicScoreParams{
			TopicWeight:                    1,
			TimeInMeshWeight:               0.01,
			TimeInMeshQuantum:              time.Second,
			TimeInMeshCap:                  100,
			FirstMessageDeliveriesWeight:   1,
			FirstMessageDeliveriesDecay:    hour,
			FirstMessageDeliveriesCap:      10,
			InvalidMessageDeliveriesWeight: g.cfg.InvalidWeight,
			InvalidMessageDeliveriesDecay:  hour,
		}
	}
	return &pubsub.PeerScoreParams{
		Topics:            ts,
		TopicScoreCap:     50,
		AppSpecificScore:  func(peer.ID) float64 { return 0 },
		AppSpecificWeight: 1,
		// A broken gossip promise (an IWANT not answered in 3 s) is also
		// what congestion looks like: only a peer that breaks many more
		// than 20 within minutes drops below the gossip threshold (42),
		// the graylist (70).
		BehaviourPenaltyWeight:    -1,
		BehaviourPenaltyThreshold: 20,
		BehaviourPenaltyDecay:     pubsub.ScoreParameterDecay(10 * time.Minute),
		DecayInterval:             time.Second,
		DecayToZero:               0.01,
		RetainScore:               time.Hour,
	}
}
