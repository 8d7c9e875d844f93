package router

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/inference/models"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p/infer"
	"github.com/cairnhub/cairn/sovereignty"
)

// ServeForwarded runs a request a member forwarded (infer.Handler).
func (rt *Router) ServeForwarded(ctx context.Context, from peer.ID, req infer.Request, w http.ResponseWriter) {
	repo := req.Model
	if mid, err := models.ParseID(req.Model); err == nil {
		repo = mid.Repo
	}
	// The prompt comes here only if this node may process the repo's
	// prompts (the sender checked with its copy of the policy; this is
	// ours) and the sender is a member (the gate) whom the policy knows.
	// The client's API key stays on the sender, which authenticated it
	// and applied its jurisdiction binding before forwarding (ServeHTTP);
	// it does not travel, so there is nothing to re-check here, and a
	// member is trusted, as for everything else, to apply the policy.
	self := rt.deps.Self
	if self == nil {
		writeError(w, http.StatusForbidden, "invalid_request_error", "jurisdiction_not_allowed", "model", "the serving node has no verified certificate")
		return
	}
	if dec := rt.deps.Policy.Decide(sovereignty.Prompts, repo, self); !dec.Allow {
		rt.deps.Audit(sovereignty.DenyEntry(sovereignty.Prompts, repo, self, dec))
		var org string
		if m, ok := rt.deps.Members.Member(from); ok {
			org = m.Org
		}
		rt.log.Warn("forwarded request refused by policy", "peer", from, "org", org, "model", req.Model, "reason", dec.Reason)
		writeError(w, http.StatusForbidden, "invalid_request_error", "jurisdiction_not_allowed", "model",
			fmt.Sprintf("the policy does not let node %s (%s) process prompts of %s: %s", rt.deps.ID, self.Jurisdiction, repo, dec.Reason))
		return
	}
	local := rt.deps.Local
	if local == nil {
		writeError(w, http.StatusServiceUnavailable, "server_error", "inference_disabled", "",
			fmt.Sprintf("local inference is disabled on node %s", rt.deps.ID))
		return
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, req.Path, bytes.NewReader(req.Body))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_value", "", err.Error())
		return
	}
	hr.Header.Set("Content-Type", "application/json")
	// The local server checks keys too: it gets one of the node's own.
	if len(rt.deps.Keys) > 0 {
		hr.Header.Set("Authorization", "Bearer "+rt.deps.Keys[0].Token)
	}
	rt.metrics.Request("served_for_peer")
	rt.log.Debug("serving forwarded request", "peer", from, "model", req.Model)
	local.ServeHTTP(w, hr)
}

// Advert is what this node serves now (infer.Handler).
func (rt *Router) Advert(ctx context.Context) infer.Advert {
	local := rt.deps.Local
	ad := infer.Advert{Serving: local != nil, Models: []infer.ModelAd{}}
	refs, err := rt.deps.Store.Refs(ctx, manifest.Model, "")
	if err != nil {
		rt.log.Warn("advert: list refs", "err", err)
	}
	for _, r := range refs {
		if len(ad.Models) >= infer.MaxModels {
			break
		}
		m, err := rt.deps.Store.Manifest(ctx, manifest.Model, r.Repo, r.Commit)
		if err != nil {
			continue
		}
		files := models.GGUFFiles(m)
		if len(files) == 0 {
			continue
		}
		ma := infer.ModelAd{Repo: r.Repo, Rev: r.Revision}
		for _, fl := range files {
			ma.Files = append(ma.Files, fl.Path)
		}
		ad.Models = append(ad.Models, ma)
	}
	if local == nil {
		return ad
	}
	for _, l := range local.Loaded() {
		ad.Load += l.Running + l.Waiting
		mid, err := models.ParseID(l.ID)
		if err != nil {
			continue
		}
		i := slices.IndexFunc(ad.Models, func(m infer.ModelAd) bool { return m.Repo == mid.Repo && m.Rev == mid.Rev })
		if i < 0 {
			if len(ad.Models) >= infer.MaxModels {
				continue
			}
			ma := infer.ModelAd{Repo: mid.Repo, Rev: mid.Rev}
			if mid.File != "" {
				ma.Files = []string{mid.File}
			}
			ad.Models = append(ad.Models, ma)
			i = len(ad.Models) - 1
		}
		ad.Models[i].Loaded = ad.Models[i].Loaded || !l.Pending
		ad.Models[i].Waiting += l.Waiting
	}
	return ad
}
