package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/p2p/fetch"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	return rec.Body.String()
}

func TestMetricsSources(t *testing.T) {
	m := New(Sources{
		Loaded:        func() []LoadedQueue { return []LoadedQueue{{Model: "acme/m", Running: 1, Waiting: 3}} },
		HFBytesServed: func() (int64, bool) { return 12345, true },
	})
	p, err := peer.Decode("12D3KooWDcfhAszFfEAXDWrcBhSak9cEe8DnzwQGaCty5hDPbm87")
	if err != nil {
		t.Fatal(err)
	}
	m.ObserveFetch(fetch.Stats{Peers: []fetch.PeerStats{{ID: p, Bytes: 1000}}})
	m.ObserveFetch(fetch.Stats{Peers: []fetch.PeerStats{{ID: p, Bytes: 24}}})
	m.RefusedBlock("bitswap")
	m.Request("forwarded")
	m.Forwarded(p, "ok")
	out := scrape(t, m)
	for _, want := range []string{
		`cairn_inference_queue_length{model="acme/m",state="running"} 1`,
		`cairn_inference_queue_length{model="acme/m",state="waiting"} 3`,
		`cairn_hf_bytes_served_total 12345`,
		`cairn_fetch_bytes_total{peer="` + p.String() + `"} 1024`,
		`cairn_blocks_refused_total{via="bitswap"} 1`,
		`cairn_inference_requests_total{route="forwarded"} 1`,
		`cairn_forwarded_requests_total{outcome="ok",peer="` + p.String() + `"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	var nilM *Metrics // every method is a no-op on nil
	nilM.ObserveFetch(fetch.Stats{})
	nilM.RefusedBlock("x")
	nilM.Request("local")
	nilM.Forwarded(p, "ok")
	if w, done := nilM.CountAnswer(httptest.NewRecorder(), "X-Route"); w == nil || done == nil {
		t.Error("CountAnswer on nil metrics")
	}
}

// The counting writer counts streamed text chunks (or the usage an answer
// reports) and passes every byte through unchanged, whatever the write
// boundaries.
func TestCountingWriter(t *testing.T) {
	chunk := func(text string) string {
		return `data: {"choices":[{"index":0,"text":"` + text + `","finish_reason":null}]}` + "\n\n"
	}
	stream := chunk("Once") + chunk(" upon") + chunk("") + chunk(" a") + "data: [DONE]\n\n"
	withUsage := chunk("a") + chunk("b") + `data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}` + "\n\n"
	plain := `{"choices":[{"text":"abc"}],"usage":{"prompt_tokens":5,"completion_tokens":9,"total_tokens":14}}` + "\n"
	for _, tt := range []struct {
		name, body string
		split      int
		want       string
	}{
		{"stream", stream, 0, "3"},
		{"stream in pieces", stream, 7, "3"},
		{"usage wins", withUsage, 5, "7"},
		{"not streamed", plain, 10, "9"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := New(Sources{})
			rec := httptest.NewRecorder()
			cw, done := m.CountAnswer(rec, "X-Route")
			if strings.HasPrefix(tt.body, "data:") {
				cw.Header().Set("Content-Type", "text/event-stream")
			}
			cw.Header().Set("X-Route", "local")
			b := tt.body
			for len(b) > 0 {
				n := len(b)
				if tt.split > 0 {
					n = min(n, tt.split)
				}
				cw.Write([]byte(b[:n]))
				cw.(http.Flusher).Flush()
				b = b[n:]
			}
			done()
			if rec.Body.String() != tt.body {
				t.Errorf("passed through %q, want %q", rec.Body.String(), tt.body)
			}
			if out := scrape(t, m); !strings.Contains(out, "cairn_inference_tokens_total "+tt.want+"\n") {
				t.Errorf("tokens counted: %s, want %s", grepLine(out, "cairn_inference_tokens_total "), tt.want)
			}
		})
	}
}

func grepLine(s, prefix string) string {
	for line := range strings.SplitSeq(s, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return "(none)"
}

// TestSwarmWithoutP2P: with peer-to-peer off the limits are exported as
// zero (unlimited) and no peer is listed.
func TestSwarmWithoutP2P(t *testing.T) {
	m := New(Sources{})
	if err := m.RegisterSwarm(nil, nil); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{"cairn_max_upload_rate_bytes 0", "cairn_max_download_rate_bytes 0"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, "cairn_served_bytes_total{") {
		t.Error("a peer is listed with peer-to-peer off")
	}
}
