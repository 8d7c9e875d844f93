package openai

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/cairnhub/cairn/inference"
)

// TestBatchPlaces: with two places in the model's batch, two slow
// streaming clients generate at the same time, a third request waits for a
// place, a fourth past the queue of one gets 503, and the waiting one is
// served once a place frees.
func TestBatchPlaces(t *testing.T) {
	s, url, _ := newServer(t, Config{Queue: 1, Engine: inference.Config{Parallel: 2}})
	release1, done1 := hold(t, s, "acme/stories")
	release2, done2 := hold(t, s, "acme/stories") // starts while the first still holds its place
	if l := s.Loaded(); len(l) != 1 || l[0].Running != 2 || l[0].Info.Parallel != 2 {
		t.Fatalf("two held generations: %+v", l)
	}
	var wg sync.WaitGroup
	var queuedStatus int
	wg.Go(func() {
		resp, body := post(t, url+"/v1/completions", greedy(map[string]any{"max_tokens": 4}))
		queuedStatus = resp.StatusCode
		if resp.StatusCode != 200 {
			t.Errorf("queued request: %d %s", resp.StatusCode, body)
		}
	})
	waitFor(t, "one request queued", func() bool {
		l := s.Loaded()
		return len(l) == 1 && l[0].Running == 2 && l[0].Waiting == 1
	})
	resp, body := post(t, url+"/v1/completions", greedy(map[string]any{"max_tokens": 4}))
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"code":"queue_full"`) {
		t.Errorf("fourth request: %d %s, want 503 queue_full", resp.StatusCode, body)
	}
	release1()
	release2()
	wg.Wait()
	for _, d := range []<-chan error{done1, done2} {
		if err := <-d; err != nil {
			t.Errorf("held generation: %v", err)
		}
	}
	if queuedStatus != 200 {
		t.Errorf("queued request status %d", queuedStatus)
	}
	if l := s.Loaded(); len(l) != 1 || l[0].Running != 0 || l[0].Waiting != 0 || l[0].Busy {
		t.Errorf("after: %+v", l)
	}
}
