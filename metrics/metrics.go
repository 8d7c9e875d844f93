package metrics

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cairnhub/cairn/p2p/fetch"
)

// Metrics are the daemon's Prometheus metrics, in a registry of their own
// (served at /metrics). Its methods do nothing on a nil *Metrics.
type Metrics struct {
	Registry *prometheus.Registry

	requests      *prometheus.CounterVec
	forwards      *prometheus.CounterVec
	tokens        prometheus.Counter
	tokensPerS    prometheus.Gauge
	ttft          *prometheus.HistogramVec
	fetchBytes    *prometheus.CounterVec
	refusedBlocks *prometheus.CounterVec
}

// Sources are read at each scrape; nil ones are left out.
type Sources struct {
	// Loaded lists the loaded models with their queues.
	Loaded func() []LoadedQueue
	// HFBytesServed is the file bytes the Hugging Face API has served.
	HFBytesServed func() (int64, bool)
}

// LoadedQueue is one loaded model's turn: running (0 or 1) and waiting.
type LoadedQueue struct {
	Model            string
	Running, Waiting int
}

// New builds the registry: Go runtime and process collectors and
// Cairn's own.
func New(src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cairn_inference_requests_total",
			Help: "OpenAI generation requests by route: local, forwarded, served_for_peer, refused (policy), failed."}, []string{"route"}),
		forwards: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cairn_forwarded_requests_total",
			Help: "Requests forwarded to a member, by peer and outcome: ok, cut (died mid-stream), failed (before answering; next member tried)."}, []string{"peer", "outcome"}),
		tokens: prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_inference_tokens_total",
			Help: "Completion tokens answered through the HTTP API (local and forwarded)."}),
		tokensPerS: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cairn_inference_tokens_per_second",
			Help: "Completion tokens per second of the last generation, from its first token to its end, as its client saw it."}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cairn_inference_ttft_seconds",
			Help: "Time to first token of streamed generations, by route.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"route"}),
		fetchBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cairn_fetch_bytes_total",
			Help: "Block bytes fetched from each peer (stored, no duplicates)."}, []string{"peer"}),
		refusedBlocks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cairn_blocks_refused_total",
			Help: "Block or DAG requests refused by the residency policy, by path (bitswap, fetch)."}, []string{"via"}),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.forwards, m.tokens, m.tokensPerS, m.ttft, m.fetchBytes, m.refusedBlocks)
	if src.Loaded != nil {
		reg.MustRegister(&queueCollector{loaded: src.Loaded,
			desc: prometheus.NewDesc("cairn_inference_queue_length", "Generations running and waiting per loaded model.", []string{"model", "state"}, nil)})
	}
	if src.HFBytesServed != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cairn_hf_bytes_served_total",
			Help: "File body bytes served by the Hugging Face-compatible API."}, func() float64 {
			n, _ := src.HFBytesServed()
			return float64(n)
		}))
	}
	return m
}

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// ObserveFetch adds a fetch's bytes by peer.
func (m *Metrics) ObserveFetch(st fetch.Stats) {
	if m == nil {
		return
	}
	for _, p := range st.Peers {
		m.fetchBytes.WithLabelValues(p.ID.String()).Add(float64(p.Bytes))
	}
}

// RefusedBlock counts a block request the policy refused.
func (m *Metrics) RefusedBlock(via string) {
	if m == nil {
		return
	}
	m.refusedBlocks.WithLabelValues(via).Inc()
}

// Request counts an OpenAI generation request by route: local,
// forwarded, served_for_peer, refused or failed.
func (m *Metrics) Request(route string) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route).Inc()
}

// Forwarded counts a request forwarded to p by outcome: ok, cut or failed.
func (m *Metrics) Forwarded(p peer.ID, outcome string) {
	if m == nil {
		return
	}
	m.forwards.WithLabelValues(p.String(), outcome).Inc()
}

type queueCollector struct {
	loaded func() []LoadedQueue
	desc   *prometheus.Desc
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	for _, q := range c.loaded() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(q.Running), q.Model, "running")
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(q.Waiting), q.Model, "waiting")
	}
}

// countingWriter passes an OpenAI answer through, counting its completion
// tokens (streamed chunks with text, or the usage the answer reports) and
// timing its first and last, for the metrics.
type countingWriter struct {
	http.ResponseWriter
	m           *Metrics
	routeHeader string
	start       time.Time
	first       time.Time
	last        time.Time
	chunks      int
	usage       int // completion_tokens the answer reported; -1: none
	stream      bool
	partial     []byte // an event cut across writes
	body        bytes.Buffer
	mu          sync.Mutex
}

// CountAnswer wraps w to count the completion tokens of the OpenAI answer
// written through it, and to time its first token; done records them,
// under the route the answer's routeHeader names. On a nil *Metrics it
// returns w itself.
func (m *Metrics) CountAnswer(w http.ResponseWriter, routeHeader string) (_ http.ResponseWriter, done func()) {
	if m == nil {
		return w, func() {}
	}
	c := &countingWriter{ResponseWriter: w, m: m, routeHeader: routeHeader, start: time.Now(), usage: -1}
	return c, c.done
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *countingWriter) Flush() { http.NewResponseController(c.ResponseWriter).Flush() }

const maxCountedBody = 1 << 20

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.m != nil {
		c.mu.Lock()
		c.observe(b)
		c.mu.Unlock()
	}
	return c.ResponseWriter.Write(b)
}

type countedEvent struct {
	Choices []struct {
		Text  *string `json:"text"`
		Delta *struct {
			Content *string `json:"content"`
		} `json:"delta"`
	} `json:"choices"`
	Usage *struct {
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

func (c *countingWriter) observe(b []byte) {
	if !c.stream && c.body.Len() == 0 && c.chunks == 0 {
		c.stream = bytes.HasPrefix(b, []byte("data: ")) || c.Header().Get("Content-Type") == "text/event-stream"
	}
	if !c.stream {
		if c.body.Len()+len(b) <= maxCountedBody {
			c.body.Write(b)
		}
		return
	}
	c.partial = append(c.partial, b...)
	for {
		i := bytes.Index(c.partial, []byte("\n\n"))
		if i < 0 {
			break
		}
		ev := bytes.TrimPrefix(c.partial[:i], []byte("data: "))
		c.partial = c.partial[i+2:]
		var e countedEvent
		if json.Unmarshal(ev, &e) != nil {
			continue
		}
		if e.Usage != nil {
			c.usage = e.Usage.CompletionTokens
		}
		for _, ch := range e.Choices {
			if ch.Text != nil && *ch.Text != "" || ch.Delta != nil && ch.Delta.Content != nil && *ch.Delta.Content != "" {
				now := time.Now()
				if c.first.IsZero() {
					c.first = now
				}
				c.last = now
				c.chunks++
			}
		}
	}
	c.partial = bytes.Clone(c.partial)
}

// done records the answer's figures.
func (c *countingWriter) done() {
	if c.m == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	route := c.Header().Get(c.routeHeader)
	if !c.stream {
		var e countedEvent
		if json.Unmarshal(c.body.Bytes(), &e) == nil && e.Usage != nil {
			c.m.tokens.Add(float64(e.Usage.CompletionTokens))
			if d := time.Since(c.start).Seconds(); d > 0 && e.Usage.CompletionTokens > 0 {
				c.m.tokensPerS.Set(float64(e.Usage.CompletionTokens) / d)
			}
		}
		return
	}
	n := c.chunks
	if c.usage >= 0 {
		n = c.usage
	}
	c.m.tokens.Add(float64(n))
	if c.first.IsZero() {
		return
	}
	if route != "" {
		c.m.ttft.WithLabelValues(route).Observe(c.first.Sub(c.start).Seconds())
	}
	if d := c.last.Sub(c.first).Seconds(); d > 0 && c.chunks > 1 {
		c.m.tokensPerS.Set(float64(c.chunks-1) / d)
	}
}
