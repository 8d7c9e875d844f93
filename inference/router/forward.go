package router

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/inference/models"
	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/p2p"
	"github.com/cairnhub/cairn/p2p/infer"
	"github.com/cairnhub/cairn/sovereignty"
)

// candidate is a member that serves a model, with what choosing it costs.
type candidate struct {
	peer   p2p.PeerInfo
	load   int
	loaded bool
	cost   time.Duration
}

// refusal is a member that serves a model but may not process its
// prompts.
type refusal struct {
	peer   p2p.PeerInfo
	reason string
}

// candidates are the members that serve mid (with it loaded, if
// wantLoaded) and that the policy allows to process its prompts, cheapest
// first; and those it does not allow, each refusal audited.
//
// The members asked are first those the gossiped adverts name (dialled
// when none of them is connected) and the connected members that gossip
// no advert; when they give no candidate, every other connected member.
func (rt *Router) candidates(ctx context.Context, mid models.ID, wantLoaded bool) ([]candidate, []refusal) {
	if rt.deps.Members == nil {
		return nil, nil
	}
	first, rest := rt.askable(ctx, mid)
	out, refused := rt.candidatesOf(ctx, first, mid, wantLoaded)
	if len(out) == 0 && len(rest) > 0 {
		more, ref := rt.candidatesOf(ctx, rest, mid, wantLoaded)
		out, refused = more, append(refused, ref...)
	}
	return out, refused
}

// askable splits the connected members into those to ask first for mid
// and the rest (see candidates).
func (rt *Router) askable(ctx context.Context, mid models.ID) (first, rest []p2p.PeerInfo) {
	servers, advertised := rt.gossipServers(mid)
	if advertised == nil {
		return rt.deps.Members.Peers(), nil
	}
	named := map[peer.ID]bool{}
	connected := false
	for _, s := range servers {
		named[s.id] = true
		if _, ok := rt.deps.Members.Member(s.id); ok {
			connected = true
		}
	}
	if !connected {
		rt.dialServers(ctx, servers)
	}
	for _, p := range rt.deps.Members.Peers() {
		if named[p.ID] || !advertised[p.ID] {
			first = append(first, p)
		} else {
			rest = append(rest, p)
		}
	}
	return first, rest
}

// candidatesOf are the candidates and refusals among peers.
func (rt *Router) candidatesOf(ctx context.Context, peers []p2p.PeerInfo, mid models.ID, wantLoaded bool) ([]candidate, []refusal) {
	ads := rt.advertsOf(ctx, peers)
	var out []candidate
	var refused []refusal
	for i, p := range peers {
		ad := ads[i]
		if ad == nil || !ad.Serving || p.Member == nil {
			continue
		}
		ma, ok := matchModel(ad, mid)
		if !ok || (wantLoaded && !ma.Loaded) {
			continue
		}
		dec := rt.deps.Policy.Decide(sovereignty.Prompts, mid.Repo, p.Member)
		if !dec.Allow {
			refused = append(refused, refusal{p, fmt.Sprintf("%s (%s): %s", p.ID, p.Member.Jurisdiction, dec.Reason)})
			rt.deps.Audit(sovereignty.DenyEntry(sovereignty.Prompts, mid.Repo, p.Member, dec))
			continue
		}
		rtt := p.RTT
		if rtt == 0 {
			rtt = unmeasuredRTT
		}
		c := candidate{peer: p, load: ad.Load, loaded: ma.Loaded, cost: rtt + time.Duration(ad.Load)*rt.cfg.LoadCost}
		if !ma.Loaded {
			c.cost += rt.cfg.ColdCost
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b candidate) int { return int(a.cost - b.cost) })
	return out, refused
}

// matchModel finds the advert's entry for mid.
func matchModel(ad *infer.Advert, mid models.ID) (infer.ModelAd, bool) {
	var found infer.ModelAd
	ok := false
	for _, m := range ad.Models {
		if m.Repo != mid.Repo || m.Rev != mid.Rev {
			continue
		}
		if mid.File == "" && len(m.Files) > 1 || mid.File != "" && len(m.Files) > 0 && !slices.Contains(m.Files, mid.File) {
			continue
		}
		if !ok || m.Loaded {
			found, ok = m, true
		}
	}
	return found, ok
}

// advertsOf returns each peer's advert (nil when it did not answer),
// asking those whose advert is older than AdvertTTL, all at once.
func (rt *Router) advertsOf(ctx context.Context, peers []p2p.PeerInfo) []*infer.Advert {
	out := make([]*infer.Advert, len(peers))
	var wg sync.WaitGroup
	now := time.Now()
	for i, p := range peers {
		rt.mu.Lock()
		e, ok := rt.adverts[p.ID]
		rt.mu.Unlock()
		if ok && now.Sub(e.at) < rt.cfg.AdvertTTL {
			if e.err == nil {
				out[i] = &e.ad
			}
			continue
		}
		wg.Go(func() {
			ad, err := rt.query(ctx, p.ID)
			rt.mu.Lock()
			rt.adverts[p.ID] = advertEntry{ad: ad, err: err, at: time.Now()}
			rt.mu.Unlock()
			if err == nil {
				out[i] = &ad
			} else {
				rt.log.Debug("infer advert", "peer", p.ID, "err", err)
			}
		})
	}
	wg.Wait()
	return out
}

// Route is one member in the routing view: what it serves, how near and
// how busy it is, and whether this node may send it prompts of each model.
type Route struct {
	Peer         peer.ID
	Jurisdiction string
	RTT          time.Duration
	Serving      bool
	Load         int
	Models       []RouteModel
	Err          string // the advert query failed
}

// RouteModel is a model a member serves.
type RouteModel struct {
	ID      string
	Loaded  bool
	Allowed bool   // the policy allows this member to process its prompts
	Reason  string // the policy's reason
}

// Routes asks every member what it serves (fresh adverts, all at once).
func (rt *Router) Routes(ctx context.Context) []Route {
	if rt.deps.Members == nil {
		return nil
	}
	peers := rt.deps.Members.Peers()
	out := make([]Route, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Go(func() { out[i] = rt.route(ctx, p) })
	}
	wg.Wait()
	return out
}

func (rt *Router) route(ctx context.Context, p p2p.PeerInfo) Route {
	r := Route{Peer: p.ID, RTT: p.RTT}
	if p.Member != nil {
		r.Jurisdiction = p.Member.Jurisdiction
	}
	ad, err := rt.query(ctx, p.ID)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	rt.mu.Lock()
	rt.adverts[p.ID] = advertEntry{ad: ad, at: time.Now()}
	rt.mu.Unlock()
	r.Serving, r.Load = ad.Serving, ad.Load
	for _, m := range ad.Models {
		id := m.Repo
		if m.Rev != "main" {
			id += "@" + m.Rev
		}
		if len(m.Files) > 1 {
			for _, fl := range m.Files {
				r.Models = append(r.Models, rt.routeModel(id+"/"+fl, m, p))
			}
			continue
		}
		r.Models = append(r.Models, rt.routeModel(id, m, p))
	}
	return r
}

func (rt *Router) routeModel(id string, m infer.ModelAd, p p2p.PeerInfo) RouteModel {
	dec := sovereignty.Decision{Reason: "no certificate"}
	if p.Member != nil {
		dec = rt.deps.Policy.Decide(sovereignty.Prompts, m.Repo, p.Member)
	}
	return RouteModel{ID: id, Loaded: m.Loaded, Allowed: dec.Allow, Reason: dec.Reason}
}

// forwardRequest sends req to the cheapest allowed member serving the
// model, failing over to the next while none has sent anything. It
// reports whether it answered the client (false: nothing was written and
// the caller may serve the request itself).
func (rt *Router) forwardRequest(w http.ResponseWriter, r *http.Request, req infer.Request, mid models.ID, why string, canLocal bool) bool {
	ctx := r.Context()
	cands, refused := rt.candidates(ctx, mid, false)
	if len(cands) == 0 {
		if canLocal {
			return false
		}
		rt.metrics.Request("refused")
		if len(refused) > 0 {
			reasons := make([]string, len(refused))
			for i, x := range refused {
				reasons[i] = x.reason
			}
			rt.log.Warn("forward refused by policy", "model", req.Model, "why", why, "refused", reasons)
			writeError(w, http.StatusForbidden, "invalid_request_error", "jurisdiction_not_allowed", "model", fmt.Sprintf("this node cannot serve %q (%s), and the policy lets none of the members that serve it process its prompts: %s",
				req.Model, why, strings.Join(reasons, "; ")))
			return true
		}
		if rt.deps.Local == nil {
			writeError(w, http.StatusServiceUnavailable, "server_error", "inference_disabled", "", fmt.Sprintf("%s, and no connected member serves %q", why, req.Model))
			return true
		}
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found", "model", fmt.Sprintf("the model %q cannot be served: %s, and no connected member serves it", req.Model, why))
		return true
	}
	var errs []string
	var refusedBy *peerStatusError // the last member's own refusal, passed on when none answers
	for _, c := range cands {
		sent, err := rt.forwardTo(ctx, w, c.peer.ID, req)
		if sent {
			if err != nil {
				rt.metrics.Forwarded(c.peer.ID, "cut")
			} else {
				rt.metrics.Forwarded(c.peer.ID, "ok")
			}
			return true
		}
		if ctx.Err() != nil {
			return true
		}
		if pe, ok := err.(*peerStatusError); ok {
			refusedBy = pe
		}
		rt.metrics.Forwarded(c.peer.ID, "failed")
		rt.log.Warn("forward failed, trying the next member", "model", req.Model, "peer", c.peer.ID, "err", err)
		errs = append(errs, fmt.Sprintf("%s: %v", c.peer.ID, err))
		rt.mu.Lock()
		delete(rt.adverts, c.peer.ID)
		rt.mu.Unlock()
	}
	if canLocal {
		return false
	}
	rt.metrics.Request("failed")
	if refusedBy != nil && len(errs) == 1 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(refusedBy.status)
		io.WriteString(w, refusedBy.body)
		return true
	}
	writeError(w, http.StatusBadGateway, "server_error", "forward_failed", "", fmt.Sprintf("every member that serves %q failed: %s", req.Model, strings.Join(errs, "; ")))
	return true
}

// errPeerRefused is a peer's answer that the next peer may do better
// (busy, not serving, its policy refuses).
type peerStatusError struct {
	status int
	body   string
}

func (e *peerStatusError) Error() string {
	return fmt.Sprintf("status %d: %s", e.status, strings.TrimSpace(e.body))
}

// forwardTo runs req on p, streaming its answer to w. sent reports whether
// anything was written to w; err, when sent, means the stream was cut.
func (rt *Router) forwardTo(ctx context.Context, w http.ResponseWriter, p peer.ID, req infer.Request) (sent bool, err error) {
	resp, err := rt.infer.Forward(ctx, p, req)
	if err != nil {
		return false, err
	}
	defer resp.Close()
	head := resp.Head
	streaming := strings.HasPrefix(head.ContentType, "text/event-stream")
	// Hold the answer until it is worth sending: the whole body unless
	// it streams, else the first event; a peer that dies before that is
	// replaced by the next, unseen by the client.
	var held []byte
	for done := false; !done; {
		data, end, err := resp.Next()
		if err != nil {
			return false, err
		}
		held = append(held, data...)
		if len(held) > infer.MaxBody {
			return false, fmt.Errorf("%w: answer larger than %d bytes", infer.ErrFrame, infer.MaxBody)
		}
		if end {
			streaming = false
		}
		done = end || streaming
	}
	if head.Status == http.StatusServiceUnavailable || head.Status == http.StatusForbidden {
		return false, &peerStatusError{head.Status, string(held)}
	}
	h := w.Header()
	if head.ContentType != "" {
		h.Set("Content-Type", head.ContentType)
	}
	if head.RetryAfter != "" {
		h.Set("Retry-After", head.RetryAfter)
	}
	if streaming {
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
	}
	h.Set(HeaderRoute, "forwarded")
	h.Set(HeaderServedBy, p.String())
	rt.metrics.Request("forwarded")
	w.WriteHeader(head.Status)
	rc := http.NewResponseController(w)
	if _, err := w.Write(held); err != nil {
		return true, err
	}
	rc.Flush()
	if !streaming {
		return true, nil
	}
	for {
		data, end, err := resp.Next()
		if end {
			return true, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return true, err
			}
			rt.log.Warn("forwarded stream cut", "model", req.Model, "peer", p, "err", err)
			ev, _ := json.Marshal(&openai.Error{Type: "server_error", Code: "peer_gone",
				Message: fmt.Sprintf("the member %s serving %q stopped mid-answer: %v", p, req.Model, err)})
			w.Write(append(append([]byte("data: "), ev...), "\n\n"...))
			rc.Flush()
			return true, err
		}
		if _, err := w.Write(data); err != nil {
			resp.Reset()
			return true, err
		}
		rc.Flush()
	}
}

// query asks peer p what it serves, within QueryTimeout.
func (rt *Router) query(ctx context.Context, p peer.ID) (infer.Advert, error) {
	ctx, cancel := context.WithTimeout(ctx, rt.cfg.QueryTimeout)
	defer cancel()
	return rt.infer.Query(ctx, p)
}
