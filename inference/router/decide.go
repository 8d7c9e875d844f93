package router

import (
	"context"
	"fmt"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/inference"
	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/inference/models"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/sovereignty"
)

// decide says why the node should not serve mid itself ("" when it
// should), whether serving it here remains possible when forwarding
// fails, and what to wait for before serving it here (a background pull).
func (rt *Router) decide(ctx context.Context, local Local, mid models.ID, id string) (why string, canLocal bool, wait <-chan struct{}) {
	if local == nil {
		return "local inference is disabled on this node (inference.disabled)", false, nil
	}
	// Prompts are data too: this node processes them only where the
	// policy lets its own jurisdiction do so.
	if self := rt.deps.Self; self != nil {
		if dec := rt.deps.Policy.Decide(sovereignty.Prompts, mid.Repo, self); !dec.Allow {
			rt.deps.Audit(sovereignty.DenyEntry(sovereignty.Prompts, mid.Repo, self, dec))
			return "the policy does not let this node process prompts of " + mid.Repo + ": " + dec.Reason, false, nil
		}
	}
	for _, l := range local.Loaded() {
		if l.ID == id && !l.Pending { // a pending one still waits for room
			return "", true, nil
		}
	}
	m, err := rt.deps.Store.Resolve(ctx, manifest.Model, mid.Repo, mid.Rev)
	if err != nil {
		// Not held: a peer that has it loaded answers at once, while this
		// node pulls it for the next requests.
		key := mid.Repo + "@" + mid.Rev
		if rt.deps.Members == nil {
			return "", true, nil
		}
		if self := rt.deps.Self; self != nil {
			if dec := rt.deps.Policy.Decide(sovereignty.Hold, mid.Repo, self); !dec.Allow {
				return "the policy does not let this node hold " + mid.Repo + ": " + dec.Reason, false, nil
			}
		}
		if c, _ := rt.candidates(ctx, mid, true); len(c) > 0 {
			if !rt.cfg.NoPrefetch && rt.deps.Pull != nil {
				rt.prefetch(mid)
			}
			return "the node is still fetching " + key + " and a member serves it", true, nil
		}
		rt.mu.Lock()
		ch := rt.fetching[key]
		rt.mu.Unlock()
		return "", true, ch
	}
	need, err := rt.need(ctx, m, mid)
	if err != nil {
		return "", true, nil // the server reports the model's problem
	}
	limit := rt.cfg.MemoryLimit
	if limit == 0 {
		limit = inference.AvailableMemory()
	}
	if limit > 0 && need > limit {
		return fmt.Sprintf("%s needs %d MB (file and KV cache), more than the %d MB this node has", id, need>>20, limit>>20), false, nil
	}
	return "", true, nil
}

// prefetch pulls mid's revision in the background, once.
func (rt *Router) prefetch(mid models.ID) {
	key := mid.Repo + "@" + mid.Rev
	rt.mu.Lock()
	if _, ok := rt.fetching[key]; ok {
		rt.mu.Unlock()
		return
	}
	done := make(chan struct{})
	rt.fetching[key] = done
	rt.mu.Unlock()
	go func() {
		defer func() {
			rt.mu.Lock()
			delete(rt.fetching, key)
			rt.mu.Unlock()
			close(done)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), prefetchTimeout)
		defer cancel()
		// The same message as a pull on demand (Models): one pull per model.
		rt.log.Info("model pull", "repo", mid.Repo, "rev", mid.Rev, "background", true)
		res, err := rt.deps.Pull.PullModel(ctx, mid.Repo, mid.Rev, nil)
		if err != nil {
			rt.log.Warn("background model pull failed", "repo", mid.Repo, "rev", mid.Rev, "err", err)
			return
		}
		rt.log.Info("background model pull done", "repo", mid.Repo, "rev", mid.Rev, "bytes", res.Bytes)
	}()
}

// need is the memory mid's GGUF file takes loaded: the file plus the KV
// cache of the engine's default context.
func (rt *Router) need(ctx context.Context, m *manifest.Manifest, mid models.ID) (int64, error) {
	file, err := models.Pick(m, mid)
	if err != nil {
		return 0, err
	}
	rt.mu.Lock()
	n, ok := rt.needs[file.SHA256]
	rt.mu.Unlock()
	if ok {
		return n, nil
	}
	r, err := chunker.NewReader(ctx, rt.deps.Store, file.CID)
	if err != nil {
		return 0, err
	}
	g, err := gguf.Read(r, file.Size)
	if err != nil {
		return 0, fmt.Errorf("model %s: %w", file.Path, err)
	}
	defer g.Close()
	n = file.Size + kvBytes(g)
	rt.mu.Lock()
	rt.needs[file.SHA256] = n
	rt.mu.Unlock()
	return n, nil
}

// kvBytes is the KV cache of the context the engine opens by default,
// 0 when the header does not say.
func kvBytes(g *gguf.File) int64 {
	n, _ := inference.KVCacheBytes(g, inference.Config{})
	return n
}
