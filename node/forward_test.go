package node

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnhub/cairn/config"
	"github.com/cairnhub/cairn/home"
	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/inference/router"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/internal/fixture"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/metrics"
	"github.com/cairnhub/cairn/p2p/infer"
	"github.com/cairnhub/cairn/replicate"
	"github.com/cairnhub/cairn/sovereignty"
)

// inferNode is a test node whose daemon serves inference (unless serving
// is off) and routes requests, on its HTTP API.
type inferNode struct {
	*testNode
	url string
}

func (in *inferNode) srv() *openai.Server   { return in.d.OpenAI }
func (in *inferNode) fw() *router.Router    { return in.d.Router }
func (in *inferNode) met() *metrics.Metrics { return in.d.Metrics() }

// localWrap lets a test intercept what a node's OpenAI server receives.
type localWrap struct {
	router.Local
	serve func(w http.ResponseWriter, r *http.Request, next http.Handler)
}

func (l *localWrap) ServeHTTP(w http.ResponseWriter, r *http.Request) { l.serve(w, r, l.Local) }

// startInfer restarts tn's daemon as an inference node: serving models or
// not (inference.disabled), with the router's config rc, and wrap, when
// not nil, in front of its OpenAI server. It bootstraps to the other
// running nodes.
func startInfer(tb testing.TB, nodes []*testNode, tn *testNode, serving bool, rc router.Config, wrap func(w http.ResponseWriter, r *http.Request, next http.Handler)) *inferNode {
	tb.Helper()
	tn.cancel()
	<-tn.done
	tn.d.Close()
	tn.n.Config.Inference.Disabled = !serving
	if rc.Logger == nil {
		rc.Logger = quietLog
	}
	o := DaemonOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, HTTPAddr: "127.0.0.1:0", Logger: quietLog, Router: rc}
	for _, x := range nodes {
		if x != tn && x.d != nil {
			o.Bootstrap = append(o.Bootstrap, x.d.Host.Addrs()[0].String())
		}
	}
	if wrap != nil {
		o.wrapLocal = func(l router.Local) router.Local { return &localWrap{Local: l, serve: wrap} }
	}
	d, err := tn.n.StartDaemon(context.Background(), o)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn.d, tn.cancel, tn.done = d, cancel, make(chan struct{})
	go func() { d.Run(ctx); close(tn.done) }()
	return &inferNode{testNode: tn, url: "http://" + d.HTTPAddr()}
}

func needFixture(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("several daemons: not in -short")
	}
	return fixture.Path(t, fixture.Model)
}

func addModel(t *testing.T, n *inferNode, repo string) {
	t.Helper()
	if _, err := ingest.Add(t.Context(), n.n.Store, fixture.Path(t, fixture.Model), ingest.AddOptions{Repo: repo}); err != nil {
		t.Fatal(err)
	}
}

const promptsDE = `
repos:
  - match: "acme/*"
    hold: [DE, FR]
    receive: [DE, FR]
    prompts: [DE]
`

type answer struct {
	status   int
	header   http.Header
	text     string
	events   int
	errors   []string
	done     bool
	body     string
	firstTok time.Duration
}

// complete posts a greedy completion and reads the answer (streamed or
// not).
func complete(t *testing.T, ctx context.Context, url, model string, stream bool, maxTokens int) answer {
	t.Helper()
	return completeWith(t, ctx, url, model, stream, maxTokens, nil)
}

// completeWith is complete calling onFirst when the first token arrives.
func completeWith(t *testing.T, ctx context.Context, url, model string, stream bool, maxTokens int, onFirst func()) answer {
	t.Helper()
	body := fmt.Sprintf(`{"model":%q,"prompt":"Once upon a time","max_tokens":%d,"temperature":0,"stream":%v}`, model, maxTokens, stream)
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	if !stream || resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		a.body = string(b)
		var r struct {
			Choices []struct {
				Text string `json:"text"`
			} `json:"choices"`
		}
		if json.Unmarshal(b, &r) == nil && len(r.Choices) == 1 {
			a.text = r.Choices[0].Text
		}
		return a
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		a.events++
		if line == "[DONE]" {
			a.done = true
			continue
		}
		var ev struct {
			Choices []struct {
				Text string `json:"text"`
			} `json:"choices"`
			Error *struct {
				Message string `json:"message"`
				Code    string `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		if ev.Error != nil {
			a.errors = append(a.errors, ev.Error.Code+": "+ev.Error.Message)
		}
		for _, c := range ev.Choices {
			if c.Text != "" && a.firstTok == 0 {
				a.firstTok = time.Since(start)
				if onFirst != nil {
					onFirst()
				}
			}
			a.text += c.Text
		}
	}
	return a
}

func metricValue(t *testing.T, n *inferNode, prefix string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	n.met().Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.SplitSeq(rec.Body.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, prefix+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return 0
}

// An edge with local inference off forwards to the DE mirror that serves
// the model, never to the FR one (the policy keeps prompts in DE), and the
// answer streams as the mirror's own does.
func TestForwardStreamsToAllowedPeer(t *testing.T) {
	needFixture(t)
	c := newTestCluster(t, replicate.Config{Disabled: true})
	de := startInfer(t, c.nodes, c.add("de", "DE", "mirror"), true, router.Config{}, nil)
	fr := startInfer(t, c.nodes, c.add("fr", "FR", "mirror"), true, router.Config{}, nil)
	edge := startInfer(t, c.nodes, c.add("edge", "DE", "mirror"), false, router.Config{}, nil)
	c.waitMesh()
	c.setPolicy(de.testNode, promptsDE, 1)
	addModel(t, de, "acme/stories")
	addModel(t, fr, "acme/stories")
	ctx := t.Context()

	want := complete(t, ctx, de.url, "acme/stories", false, 48)
	if want.status != 200 || want.text == "" {
		t.Fatalf("local answer on de: %d %s", want.status, want.body)
	}
	for _, stream := range []bool{true, false} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			got := complete(t, ctx, edge.url, "acme/stories", stream, 48)
			if got.status != 200 || got.text != want.text {
				t.Fatalf("edge answer = %d %q %s, want 200 %q", got.status, got.text, got.body, want.text)
			}
			if by := got.header.Get(router.HeaderServedBy); by != de.id() {
				t.Errorf("served by %s, want de %s", by, de.id())
			}
			if r := got.header.Get(router.HeaderRoute); r != "forwarded" {
				t.Errorf("route %q, want forwarded", r)
			}
			if stream && (!got.done || len(got.errors) > 0) {
				t.Errorf("stream: done=%v errors=%v", got.done, got.errors)
			}
		})
	}
	if n := metricValue(t, fr, `cairn_inference_requests_total{route="served_for_peer"}`); n != 0 {
		t.Errorf("fr served %v forwarded requests, want 0", n)
	}
	if n := metricValue(t, de, `cairn_inference_requests_total{route="served_for_peer"}`); n != 2 {
		t.Errorf("de served %v forwarded requests, want 2", n)
	}
	if n := metricValue(t, fr, `cairn_inference_requests_total{route="local"}`); n != 0 {
		t.Errorf("fr served %v requests itself, want 0", n)
	}
	if n := metricValue(t, edge, `cairn_inference_requests_total{route="forwarded"}`); n != 2 {
		t.Errorf("edge forwarded %v requests, want 2", n)
	}
	if n := metricValue(t, edge, `cairn_inference_tokens_total`); n != 96 {
		t.Errorf("edge counted %v tokens, want 96", n)
	}

	if ids := listModels(t, edge.url); len(ids) != 1 || ids[0] != "acme/stories" {
		t.Errorf("edge lists %v, want [acme/stories] (served by de)", ids)
	}

	// fr, which serves models itself, may not process these prompts: it
	// forwards them to de rather than answering.
	if got := complete(t, ctx, fr.url, "acme/stories", false, 48); got.status != 200 || got.text != want.text || got.header.Get(router.HeaderServedBy) != de.id() {
		t.Errorf("asked of fr: %d served by %q %s; want de's answer", got.status, got.header.Get(router.HeaderServedBy), got.body)
	}

	// The routing view: both mirrors serve it; only de is allowed.
	routes := edge.fw().Routes(ctx)
	allowed := map[string]bool{}
	for _, r := range routes {
		for _, m := range r.Models {
			if m.ID == "acme/stories" {
				allowed[r.Jurisdiction] = m.Allowed
			}
		}
	}
	if len(allowed) != 2 || !allowed["DE"] || allowed["FR"] {
		t.Errorf("routes: acme/stories allowed by jurisdiction %v, want DE true, FR false", allowed)
	}
}

// When the only node serving the model is in a jurisdiction the policy
// does not allow for its prompts, the edge refuses with a clear 403 and
// audits it; the FR node never sees the prompt.
func TestForwardRefusesDisallowedJurisdiction(t *testing.T) {
	needFixture(t)
	c := newTestCluster(t, replicate.Config{Disabled: true})
	fr := startInfer(t, c.nodes, c.add("fr", "FR", "mirror"), true, router.Config{}, nil)
	edge := startInfer(t, c.nodes, c.add("edge", "DE", "mirror"), false, router.Config{}, nil)
	c.waitMesh()
	c.setPolicy(fr.testNode, promptsDE, 1)
	addModel(t, fr, "acme/stories")

	for _, stream := range []bool{false, true} {
		got := complete(t, t.Context(), edge.url, "acme/stories", stream, 8)
		if got.status != http.StatusForbidden || !strings.Contains(got.body, "jurisdiction_not_allowed") || !strings.Contains(got.body, "FR not in prompts") {
			t.Fatalf("edge answer = %d %s, want 403 jurisdiction_not_allowed naming FR", got.status, got.body)
		}
	}
	if n := metricValue(t, fr, `cairn_inference_requests_total{route="served_for_peer"}`); n != 0 {
		t.Errorf("fr served %v forwarded requests, want 0", n)
	}
	if got := complete(t, t.Context(), edge.url, "acme/none", false, 4); got.status != http.StatusServiceUnavailable || !strings.Contains(got.body, "inference_disabled") {
		t.Errorf("a model nobody serves: %d %s, want 503 inference_disabled", got.status, got.body)
	}
	if ids := listModels(t, edge.url); len(ids) != 0 {
		t.Errorf("edge lists %v, want nothing (only fr serves it, not allowed)", ids)
	}
	found := false
	for _, e := range auditEntries(t, edge.testNode, sovereignty.KindDeny) {
		if e.Repo == "acme/stories" && e.Peer == fr.id() && strings.Contains(e.Subject+e.Reason, "prompts") {
			found = true
		}
	}
	if !found {
		t.Errorf("no deny entry for prompts of acme/stories to fr in the edge's audit log")
	}

	// The serving side checks too: a request sent straight to fr (as an
	// edge with an older policy would) is refused there.
	resp, err := infer.New(edge.d.Host.Libp2p(), nil, quietLog).Forward(t.Context(), fr.n.ID, forwardReq("acme/stories"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	if resp.Head.Status != http.StatusForbidden {
		t.Errorf("direct forward to fr: status %d, want 403", resp.Head.Status)
	}
}

// A serving peer that dies before sending anything is replaced by the
// next one, unseen by the client; one that dies mid-stream leaves the
// client with the tokens so far and one error event.
func TestForwardFailover(t *testing.T) {
	needFixture(t)
	c := newTestCluster(t, replicate.Config{Disabled: true})
	var mode atomic.Int32 // 1: the first request stalls; 2: it is cut after a few events
	victim := make(chan string, 1)
	release := make(chan struct{})
	var once sync.Mutex
	taken := false
	wrap := func(name string) func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			once.Lock()
			first := !taken && mode.Load() != 0
			taken = taken || first
			once.Unlock()
			if !first {
				next.ServeHTTP(w, r)
				return
			}
			if mode.Load() == 1 {
				victim <- name
				select {
				case <-r.Context().Done():
				case <-release:
				}
				return
			}
			next.ServeHTTP(&cutAfter{ResponseWriter: w, n: 4, cut: func() { victim <- name }, release: release, ctx: r.Context()}, r)
		}
	}
	a := startInfer(t, c.nodes, c.add("a", "DE", "mirror"), true, router.Config{}, wrap("a"))
	b := startInfer(t, c.nodes, c.add("b", "DE", "mirror"), true, router.Config{}, wrap("b"))
	edge := startInfer(t, c.nodes, c.add("edge", "DE", "mirror"), false, router.Config{}, nil)
	t.Cleanup(func() { close(release) }) // before the servers close: they wait for stalled generations
	c.waitMesh()
	addModel(t, a, "acme/stories")
	addModel(t, b, "acme/stories")
	want := complete(t, t.Context(), a.url, "acme/stories", false, 32)
	nodes := map[string]*inferNode{"a": a, "b": b}

	kill := func() string {
		name := <-victim
		nodes[name].stop()
		return name
	}

	t.Run("before anything is sent", func(t *testing.T) {
		mode.Store(1)
		killed := make(chan string, 1)
		go func() { killed <- kill() }()
		got := complete(t, t.Context(), edge.url, "acme/stories", true, 32)
		dead := <-killed
		other := map[string]string{"a": "b", "b": "a"}[dead]
		if got.status != 200 || got.text != want.text || !got.done || len(got.errors) != 0 {
			t.Fatalf("answer after %s died = %d %q done=%v errors=%v %s; want the full text from %s", dead, got.status, got.text, got.done, got.errors, got.body, other)
		}
		if by := got.header.Get(router.HeaderServedBy); by != nodes[other].id() {
			t.Errorf("served by %s, want %s", by, other)
		}
	})

	t.Run("mid-stream", func(t *testing.T) {
		// The survivor serves now; make it the victim.
		once.Lock()
		taken = false
		once.Unlock()
		mode.Store(2)
		// The node is killed once the client holds a token: data a node
		// queued but that never reached the edge is "nothing sent".
		got := completeWith(t, t.Context(), edge.url, "acme/stories", true, 32, func() { kill() })
		if got.status != 200 || len(got.errors) != 1 || got.done {
			t.Fatalf("cut stream: status %d, errors %v, done %v %s; want 200, one error event, no [DONE]", got.status, got.errors, got.done, got.body)
		}
		if !strings.HasPrefix(want.text, got.text) || got.text == "" || !strings.HasPrefix(got.errors[0], "peer_gone") {
			t.Errorf("cut stream text %q (want a prefix of %q), error %q (want peer_gone)", got.text, want.text, got.errors[0])
		}
	})
}

// cutAfter lets n flushes through, then stalls the generation and calls
// cut (the test kills the node).
type cutAfter struct {
	http.ResponseWriter
	n       int
	cut     func()
	release chan struct{}
	ctx     context.Context
}

func (c *cutAfter) Flush() {
	c.n--
	http.NewResponseController(c.ResponseWriter).Flush()
	if c.n == 0 {
		c.cut()
		select {
		case <-c.ctx.Done():
		case <-c.release:
		}
	}
}

func forwardReq(model string) infer.Request {
	return infer.Request{Path: "/v1/completions", Model: model, Body: json.RawMessage(`{"model":"` + model + `","prompt":"Once","max_tokens":4}`)}
}

// The memory estimate: file plus KV cache, forwarded when over the limit.
func TestForwardWhenOutOfMemory(t *testing.T) {
	needFixture(t)
	c := newTestCluster(t, replicate.Config{Disabled: true})
	de := startInfer(t, c.nodes, c.add("de", "DE", "mirror"), true, router.Config{}, nil)
	edge := startInfer(t, c.nodes, c.add("edge", "DE", "mirror"), true, router.Config{MemoryLimit: 1024}, nil)
	c.waitMesh()
	addModel(t, de, "acme/stories")
	addModel(t, edge, "acme/stories")
	got := complete(t, t.Context(), edge.url, "acme/stories", false, 8)
	if got.status != 200 || got.header.Get(router.HeaderServedBy) != de.id() {
		t.Fatalf("answer = %d served by %q %s; want 200 from de (the edge lacks memory)", got.status, got.header.Get(router.HeaderServedBy), got.body)
	}
	// The estimate counts the KV cache beside the file: a limit of the
	// file's size is not enough either.
	st, _ := os.Stat(fixture.Path(t, fixture.Model))
	edge = startInfer(t, c.nodes, edge.testNode, true, router.Config{MemoryLimit: st.Size()}, nil)
	c.waitMesh()
	if got := complete(t, t.Context(), edge.url, "acme/stories", false, 8); got.header.Get(router.HeaderServedBy) != de.id() {
		t.Errorf("limit of the file's %d bytes: served by %q, want de (no room for the KV cache)", st.Size(), got.header.Get(router.HeaderServedBy))
	}
	// With enough memory the edge serves it itself.
	edge = startInfer(t, c.nodes, edge.testNode, true, router.Config{MemoryLimit: 1 << 40}, nil)
	c.waitMesh()
	if got := complete(t, t.Context(), edge.url, "acme/stories", false, 8); got.header.Get(router.HeaderRoute) != "local" {
		t.Errorf("route %q with memory enough, want local", got.header.Get(router.HeaderRoute))
	}
}

// streamFigures posts a streamed greedy completion of n tokens (past the
// end-of-text token) and returns its time to first token, the time from
// its first to its last token, and the number of tokens.
func streamFigures(b *testing.B, url string, n int) (ttft, decode time.Duration, tokens int) {
	b.Helper()
	body := fmt.Sprintf(`{"model":"acme/stories","prompt":"Once upon a time","max_tokens":%d,"temperature":0,"stream":true,"ignore_eos":true}`, n)
	start := time.Now()
	resp, err := http.Post(url+"/v1/completions", "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var first, last time.Time
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || line == "[DONE]" {
			continue
		}
		var ev struct {
			Choices []struct {
				Text string `json:"text"`
			} `json:"choices"`
		}
		if json.Unmarshal([]byte(line), &ev) != nil || len(ev.Choices) == 0 || ev.Choices[0].Text == "" {
			continue
		}
		last = time.Now()
		if first.IsZero() {
			first = last
		}
		tokens++
	}
	if tokens < n/2 {
		b.Fatalf("%d tokens streamed from %s, want about %d", tokens, url, n)
	}
	return first.Sub(start), last.Sub(first), tokens
}

// BenchmarkForwardOverhead: the same streamed generation asked of the
// serving node directly and through an edge that forwards it (loopback),
// alternately; reports both decode rates, their ratio and the added time
// to first token.
//
//	go test ./node -run '^$' -bench BenchmarkForwardOverhead -benchtime 20x
func BenchmarkForwardOverhead(b *testing.B) {
	fixtureModel := fixture.Path(b, fixture.Model)
	for _, bc := range []struct {
		name string
		ttl  time.Duration
	}{{"adverts-cached", 0}, {"advert-query-per-request", time.Nanosecond}} {
		b.Run(bc.name, func(b *testing.B) {
			c := newBenchCluster(b)
			de := startInfer(b, c.nodes, c.add("de"), true, router.Config{}, nil)
			edge := startInfer(b, c.nodes, c.add("edge"), false, router.Config{AdvertTTL: bc.ttl}, nil)
			c.waitMesh()
			if _, err := ingest.Add(b.Context(), de.n.Store, fixtureModel, ingest.AddOptions{Repo: "acme/stories"}); err != nil {
				b.Fatal(err)
			}
			const n = 200
			streamFigures(b, de.url, n) // load the model
			streamFigures(b, edge.url, n)
			// Sums over all runs: decode rate = tokens after the first over
			// the time after the first; whole rate = tokens over the time
			// from the request to the last token.
			var lTTFT, fTTFT, lDec, fDec time.Duration
			var lTok, fTok int
			b.ResetTimer()
			for range b.N {
				t1, d1, n1 := streamFigures(b, de.url, n)
				t2, d2, n2 := streamFigures(b, edge.url, n)
				lTTFT, lDec, lTok = lTTFT+t1, lDec+d1, lTok+n1
				fTTFT, fDec, fTok = fTTFT+t2, fDec+d2, fTok+n2
			}
			k := float64(b.N)
			lRate := float64(lTok-b.N) / lDec.Seconds()
			fRate := float64(fTok-b.N) / fDec.Seconds()
			b.ReportMetric(lRate, "local_tok/s")
			b.ReportMetric(fRate, "forwarded_tok/s")
			b.ReportMetric(fRate/lRate, "forwarded/local")
			b.ReportMetric((float64(fTok)/(fTTFT+fDec).Seconds())/(float64(lTok)/(lTTFT+lDec).Seconds()), "forwarded/local_whole")
			b.ReportMetric(float64(lTTFT.Microseconds())/1e3/k, "local_ttft_ms")
			b.ReportMetric(float64(fTTFT.Microseconds())/1e3/k, "forwarded_ttft_ms")
			b.ReportMetric(float64((fTTFT-lTTFT).Microseconds())/1e3/k, "added_ttft_ms")
		})
	}
}

// BenchmarkColdStart: an edge node that does not hold the model answers
// its first request after pulling it from a mirror (nobody has it loaded,
// so nothing is forwarded); reports the cold time to first token beside
// its parts — fetch (pull and write-out), load — and the warm time to
// first token of the next request (a prompt sharing no prefix with the
// first, so no KV-cache reuse flatters it), and cold / (fetch + load +
// warm).
//
//	go test ./node -run '^$' -bench BenchmarkColdStart -benchtime 5x
func BenchmarkColdStart(b *testing.B) {
	fixtureModel := fixture.Path(b, fixture.Model)
	var cold, fetchT, load, warm time.Duration
	gen := openai.Generation{Model: "acme/stories"}
	gen.Request.Prompt = "Once upon a time"
	gen.Request.MaxTokens = 16
	ttft := func(srv *openai.Server, prompt string) (time.Duration, openai.Result) {
		gen.Request.Prompt = prompt
		start := time.Now()
		var first time.Duration
		res, err := srv.Generate(b.Context(), gen, func(string) error {
			if first == 0 {
				first = time.Since(start)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		return first, res
	}
	for range b.N {
		b.StopTimer()
		c := newBenchCluster(b)
		de := startInfer(b, c.nodes, c.add("de"), true, router.Config{}, nil)
		edge := startInfer(b, c.nodes, c.add("edge"), true, router.Config{}, nil)
		c.waitMesh()
		if _, err := ingest.Add(b.Context(), de.n.Store, fixtureModel, ingest.AddOptions{Repo: "acme/stories"}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t, res := ttft(edge.srv(), "Once upon a time")
		b.StopTimer()
		if res.Locate < time.Millisecond || res.Load == 0 {
			b.Fatalf("cold request: locate %v load %v: the edge had the model already", res.Locate, res.Load)
		}
		w, _ := ttft(edge.srv(), "The little dog ran") // no prefix to reuse from the KV cache
		cold, fetchT, load, warm = cold+t, fetchT+res.Locate, load+res.Load, warm+w
		for _, n := range c.nodes {
			n.stop()
		}
		b.StartTimer()
	}
	k := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 / k }
	b.ReportMetric(ms(cold), "cold_ttft_ms")
	b.ReportMetric(ms(fetchT), "fetch_ms")
	b.ReportMetric(ms(load), "load_ms")
	b.ReportMetric(ms(warm), "warm_ttft_ms")
	b.ReportMetric(float64(cold)/float64(fetchT+load+warm), "cold/(fetch+load+warm)")
	b.ReportMetric(float64(cold)/(float64(fetchT+load)+1.2*float64(warm)), "cold/(fetch+load+1.2warm)")
}

// benchCluster is testCluster for benchmarks: DE members of one
// organisation, each bootstrapping to those before it.
type benchCluster struct {
	tb    testing.TB
	org   ed25519.PrivateKey
	pub   string
	nodes []*testNode
}

func newBenchCluster(tb testing.TB) *benchCluster {
	k, err := sovereignty.GenerateOrgKey()
	if err != nil {
		tb.Fatal(err)
	}
	return &benchCluster{tb: tb, org: k, pub: sovereignty.FormatOrgPublicKey(sovereignty.OrgPublicKey(k))}
}

func (c *benchCluster) add(name string) *testNode {
	tb := c.tb
	dir := filepath.Join(tb.TempDir(), name)
	if _, err := home.Init(dir); err != nil {
		tb.Fatal(err)
	}
	tn := &testNode{name: name, home: dir, juris: "DE"}
	tb.Cleanup(tn.stop)
	n, err := LoadHome(dir)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := sovereignty.Issue(c.org, sovereignty.Certificate{Org: "acme", PeerID: n.ID.String(), Region: "eu", Jurisdiction: "DE",
		Roles: []string{"mirror"}, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := n.Join(cert, c.pub); err != nil {
		tb.Fatal(err)
	}
	if tn.n, err = Open(context.Background(), dir); err != nil {
		tb.Fatal(err)
	}
	var boot []string
	for _, o := range c.nodes {
		boot = append(boot, o.d.Host.Addrs()[0].String())
	}
	tn.d, err = tn.n.StartDaemon(context.Background(), DaemonOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: boot, HTTPAddr: "127.0.0.1:0", Logger: quietLog})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn.cancel, tn.done = cancel, make(chan struct{})
	d := tn.d
	go func() { d.Run(ctx); close(tn.done) }()
	c.nodes = append(c.nodes, tn)
	return tn
}

func (c *benchCluster) waitMesh() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range c.nodes {
		if err := n.d.WaitForPeers(ctx, len(c.nodes)-1); err != nil {
			c.tb.Fatalf("%s: %v", n.name, err)
		}
	}
}

// listModels is GET /v1/models.
func listModels(t *testing.T, url string) []string {
	t.Helper()
	resp, err := http.Get(url + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/models: %d %v", resp.StatusCode, err)
	}
	var ids []string
	for _, m := range l.Data {
		ids = append(ids, m.ID)
	}
	return ids
}

// Between two allowed members serving the model, the edge picks the one
// not busy: a generation running there counts for LoadCost of round trip.
func TestForwardChoosesLessLoadedPeer(t *testing.T) {
	needFixture(t)
	c := newTestCluster(t, replicate.Config{Disabled: true})
	var stall sync.Map // node name → chan struct{} closed to release its stalled request
	stalled := make(chan string, 2)
	wrap := func(name string) func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			v, ok := stall.LoadAndDelete(name)
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(&cutAfter{ResponseWriter: w, n: 1, cut: func() { stalled <- name }, release: v.(chan struct{}), ctx: r.Context()}, r)
		}
	}
	a := startInfer(t, c.nodes, c.add("a", "DE", "mirror"), true, router.Config{}, wrap("a"))
	b := startInfer(t, c.nodes, c.add("b", "DE", "mirror"), true, router.Config{}, wrap("b"))
	edge := startInfer(t, c.nodes, c.add("edge", "DE", "mirror"), false, router.Config{AdvertTTL: time.Nanosecond}, nil)
	c.waitMesh()
	nodes := map[string]*inferNode{"a": a, "b": b}
	for _, n := range nodes {
		addModel(t, n, "acme/stories")
		if got := complete(t, t.Context(), n.url, "acme/stories", false, 4); got.status != 200 {
			t.Fatalf("warm-up: %d %s", got.status, got.body)
		}
	}
	for _, busy := range []string{"a", "b"} {
		idle := map[string]string{"a": "b", "b": "a"}[busy]
		release := make(chan struct{})
		stall.Store(busy, release)
		done := make(chan struct{})
		go func() { // a client of busy's own, stalled after its first event
			defer close(done)
			complete(t, t.Context(), nodes[busy].url, "acme/stories", true, 16)
		}()
		if name := <-stalled; name != busy {
			t.Fatalf("stalled %s, want %s", name, busy)
		}
		for range 3 {
			got := complete(t, t.Context(), edge.url, "acme/stories", false, 4)
			if by := got.header.Get(router.HeaderServedBy); got.status != 200 || by != nodes[idle].id() {
				t.Errorf("with %s busy: %d served by %s, want %s", busy, got.status, by, idle)
			}
		}
		close(release)
		<-done
	}
}

// An edge that serves models itself but lacks one that a member has
// loaded forwards the first request while it pulls the model, then
// answers itself.
func TestForwardWhileFetching(t *testing.T) {
	needFixture(t)
	c := newTestCluster(t, replicate.Config{Disabled: true})
	de := startInfer(t, c.nodes, c.add("de", "DE", "mirror"), true, router.Config{}, nil)
	edge := startInfer(t, c.nodes, c.add("edge", "DE", "edge"), true, router.Config{}, nil)
	c.waitMesh()
	addModel(t, de, "acme/stories")
	want := complete(t, t.Context(), de.url, "acme/stories", false, 32) // de loads it
	got := complete(t, t.Context(), edge.url, "acme/stories", true, 32)
	if got.status != 200 || got.text != want.text || got.header.Get(router.HeaderServedBy) != de.id() {
		t.Fatalf("first request: %d %q served by %q, want de's %q", got.status, got.text, got.header.Get(router.HeaderServedBy), want.text)
	}
	c.eventually(20*time.Second, "the edge pulls the model", func() (bool, string) {
		_, err := edge.n.Store.Resolve(t.Context(), manifest.Model, "acme/stories", "main")
		return err == nil, fmt.Sprint(err)
	})
	got = complete(t, t.Context(), edge.url, "acme/stories", true, 32)
	if got.status != 200 || got.text != want.text || got.header.Get(router.HeaderRoute) != "local" {
		t.Fatalf("after the pull: %d %q route %q, want a local answer %q", got.status, got.text, got.header.Get(router.HeaderRoute), want.text)
	}
}

// Keys of the token tests: bound to DE, bound to FR, unbound.
const (
	keyDE  = "key-de"
	keyFR  = "key-fr"
	keyAny = "key-any"
)

// A policy that lets FR receive acme/open but not acme/de-only; prompts
// of both may be processed in DE.
const receiveDEOnly = `
repos:
  - match: "acme/open"
    hold: [DE]
    receive: [DE, FR]
    prompts: [DE]
  - match: "acme/*"
    hold: [DE]
    receive: [DE]
    prompts: [DE]
`

// startTokenInfer starts an inference node whose http.tokens bind keyDE
// to DE and keyFR to FR, keyAny unbound, all three its API keys.
func startTokenInfer(t *testing.T, nodes []*testNode, tn *testNode, serving bool) *inferNode {
	t.Helper()
	tn.n.Config.HTTP.Tokens = []config.HTTPToken{{Token: keyDE, Jurisdiction: "DE"}, {Token: keyFR, Jurisdiction: "FR"}, {Token: keyAny}}
	return startInfer(t, nodes, tn, serving, router.Config{}, nil)
}

// postAs posts body to path with the bearer key ("" for none).
func postAs(t *testing.T, url, path, key, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return doRequest(t, req)
}

func getAs(t *testing.T, url, path, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return doRequest(t, req)
}

func doRequest(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func completionBody(model string, stream bool) string {
	return fmt.Sprintf(`{"model":%q,"prompt":"Once upon a time","max_tokens":4,"temperature":0,"stream":%v}`, model, stream)
}

// modelIDs are the ids of a GET /v1/models answer.
func modelIDs(t *testing.T, status int, body string) []string {
	t.Helper()
	var l struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &l) != nil {
		t.Fatalf("GET /v1/models: %d %s", status, body)
	}
	ids := []string{}
	for _, m := range l.Data {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}

// tokenDenials counts the audit log's refusals of repo to a key bound to
// juris.
func tokenDenials(t *testing.T, tn *testNode, repo, juris string) int {
	t.Helper()
	n := 0
	for _, e := range auditEntries(t, tn, sovereignty.KindDeny) {
		if e.Repo == repo && e.Subject == "receive" && e.Peer == "http-token" && strings.Contains(e.Reason, "jurisdiction "+juris) {
			n++
		}
	}
	return n
}

// A key bound to a jurisdiction uses only the models whose repo the
// policy lets that jurisdiction receive, as on the Hugging Face API: a
// refused one is a 403 jurisdiction_refused naming the repo and the
// jurisdiction, audited, whether the node would serve the request itself
// or forward it (the forwarding node decides); /v1/models lists only what
// the key may use. Unbound keys are unaffected, unknown ones get 401.
func TestForwardTokenJurisdiction(t *testing.T) {
	needFixture(t)
	c := newTestCluster(t, replicate.Config{Disabled: true})
	de := startTokenInfer(t, c.nodes, c.add("de", "DE", "mirror"), true)
	edge := startTokenInfer(t, c.nodes, c.add("edge", "DE", "mirror"), false)
	c.waitMesh()
	c.setPolicy(de.testNode, receiveDEOnly, 1)
	addModel(t, de, "acme/open")
	addModel(t, de, "acme/de-only")

	for _, n := range []*inferNode{de, edge} {
		t.Run(n.name, func(t *testing.T) {
			for _, stream := range []bool{false, true} {
				before := tokenDenials(t, n.testNode, "acme/de-only", "FR")
				status, body := postAs(t, n.url, infer.PathCompletions, keyFR, completionBody("acme/de-only", stream))
				if status != http.StatusForbidden || !strings.Contains(body, `"code":"jurisdiction_refused"`) ||
					!strings.Contains(body, "acme/de-only") || !strings.Contains(body, "jurisdiction FR") {
					t.Fatalf("FR key, acme/de-only, stream=%v: %d %s; want 403 jurisdiction_refused naming the repo and FR", stream, status, body)
				}
				if !stream && tokenDenials(t, n.testNode, "acme/de-only", "FR") <= before {
					t.Errorf("no audit entry for the refusal of acme/de-only to the FR key")
				}
			}
			if status, body := postAs(t, n.url, infer.PathChat, keyFR,
				`{"model":"acme/de-only","messages":[{"role":"user","content":"hi"}],"max_tokens":2}`); status != http.StatusForbidden {
				t.Errorf("FR key, chat on acme/de-only: %d %s, want 403", status, body)
			}
			// The model the server would run is the one checked: a body
			// the server accepts with a trailing "]" is read the same way.
			if status, body := postAs(t, n.url, infer.PathCompletions, keyFR, completionBody("acme/de-only", false)+"]"); status != http.StatusForbidden {
				t.Errorf("FR key, acme/de-only with a trailing ]: %d %s, want 403", status, body)
			}
			for _, tc := range []struct{ key, model string }{{keyFR, "acme/open"}, {keyDE, "acme/de-only"}, {keyAny, "acme/de-only"}} {
				if status, body := postAs(t, n.url, infer.PathCompletions, tc.key, completionBody(tc.model, false)); status != 200 {
					t.Errorf("key %s, %s: %d %s, want 200", tc.key, tc.model, status, body)
				}
			}
			for _, key := range []string{"", "nope"} {
				if status, body := postAs(t, n.url, infer.PathCompletions, key, completionBody("acme/open", false)); status != http.StatusUnauthorized || !strings.Contains(body, "invalid_api_key") {
					t.Errorf("key %q: %d %s, want 401 invalid_api_key", key, status, body)
				}
				if status, _ := getAs(t, n.url, "/v1/models", key); status != http.StatusUnauthorized {
					t.Errorf("GET /v1/models with key %q: %d, want 401", key, status)
				}
			}

			both := []string{"acme/de-only", "acme/open"}
			for key, want := range map[string][]string{keyFR: {"acme/open"}, keyDE: both, keyAny: both} {
				status, body := getAs(t, n.url, "/v1/models", key)
				if got := modelIDs(t, status, body); !slices.Equal(got, want) {
					t.Errorf("GET /v1/models with key %s: %v, want %v", key, got, want)
				}
			}
			if status, body := getAs(t, n.url, "/v1/models/acme/de-only", keyFR); status != http.StatusForbidden || !strings.Contains(body, "jurisdiction_refused") {
				t.Errorf("GET /v1/models/acme/de-only with the FR key: %d %s, want 403", status, body)
			}
			if status, body := getAs(t, n.url, "/v1/models/acme/open", keyFR); status != 200 || !strings.Contains(body, `"id":"acme/open"`) {
				t.Errorf("GET /v1/models/acme/open with the FR key: %d %s, want 200", status, body)
			}
		})
	}
	// The edge forwarded the allowed requests only: de served exactly the
	// three 200s asked of the edge, never a refused one.
	if n := metricValue(t, de, `cairn_inference_requests_total{route="served_for_peer"}`); n != 3 {
		t.Errorf("de served %v forwarded requests, want 3 (the allowed ones)", n)
	}
	if n := metricValue(t, edge, `cairn_inference_requests_total{route="refused"}`); n != 4 {
		t.Errorf("edge counted %v refused generation requests, want 4", n)
	}
}
