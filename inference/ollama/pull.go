package ollama

import (
	"net/http"
	"sync"
	"time"
)

type pullRequest struct {
	Model    string `json:"model"`
	Name     string `json:"name"` // older clients
	Insecure bool   `json:"insecure"`
	Stream   *bool  `json:"stream"`
}

type pullStatus struct {
	Status    string `json:"status"`
	Digest    string `json:"digest,omitempty"`
	Total     int64  `json:"total,omitempty"`
	Completed int64  `json:"completed,omitempty"`
}

// progressEvery spaces the progress lines of a pull.
const progressEvery = 200 * time.Millisecond

// handlePull makes a model present through the Puller (from the members
// of the network, never from Ollama's registry), with Ollama's progress
// lines: "pulling manifest", "pulling <id>" with bytes, "verifying sha256
// digest", "success".
func (s *Server) handlePull(w http.ResponseWriter, r *http.Request) {
	var req pullRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if s.cfg.Puller == nil {
		writeError(w, &apiError{http.StatusNotImplemented, "pull is not available on this node"})
		return
	}
	name := req.Model
	if name == "" {
		name = req.Name
	}
	id, err := ToID(name)
	if err != nil {
		writeError(w, err)
		return
	}
	stream := req.Stream == nil || *req.Stream
	if !stream {
		if err := s.cfg.Puller.Pull(r.Context(), id, nil); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, pullStatus{Status: "success"})
		return
	}
	nd := startNDJSON(w)
	nd.send(pullStatus{Status: "pulling manifest"})
	var mu sync.Mutex
	var last time.Time
	err = s.cfg.Puller.Pull(r.Context(), id, func(done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		if now := time.Now(); now.Sub(last) >= progressEvery || done == total {
			last = now
			nd.send(pullStatus{Status: "pulling " + id, Digest: id, Total: total, Completed: done})
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		nd.send(map[string]string{"error": err.Error()})
		return
	}
	nd.send(pullStatus{Status: "verifying sha256 digest"})
	nd.send(pullStatus{Status: "success"})
}
