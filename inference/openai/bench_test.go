package openai

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhub/cairn/inference"
	"github.com/cairnhub/cairn/inference/bench"
	"github.com/cairnhub/cairn/inference/llama"
	"github.com/cairnhub/cairn/inference/tensor"
)

// benchShape is a small random-weight llama (about 60M parameters, 64 MB
// in Q8_0): big enough that a token costs real kernel time, small enough to
// generate and load in a second.
var benchShape = llama.Shape{Dim: 512, Layers: 8, Heads: 8, KVHeads: 8, FFNDim: 1536, Vocab: 32000, ContextLength: 512}

const benchTokens = 64

func benchModel(b *testing.B) string {
	path, err := bench.ModelPath(os.TempDir(), benchShape, tensor.Q8_0)
	if err != nil {
		b.Fatal(err)
	}
	return path
}

var benchReq = inference.Request{Prompt: "Once upon a time", MaxTokens: benchTokens, IgnoreEOS: true}

// BenchmarkServerThroughput generates 64 tokens per iteration through the
// engine directly and through POST /v1/completions with stream: true (SSE
// over loopback), and reports both speeds and their ratio.
func BenchmarkServerThroughput(b *testing.B) {
	path := benchModel(b)
	m, err := inference.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	s, err := NewServer(Files{"bench/m": path}, Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewServer(s)
	defer ts.Close()
	body := `{"model":"bench/m","prompt":"Once upon a time","max_tokens":64,"temperature":0,"ignore_eos":true,"stream":true}`
	viaHTTP := func() int {
		resp, err := http.Post(ts.URL+"/v1/completions", "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		chunks := 0
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: {") {
				chunks++
			}
		}
		if resp.StatusCode != 200 || chunks == 0 {
			b.Fatalf("status %d, %d chunks", resp.StatusCode, chunks)
		}
		return chunks
	}
	viaHTTP() // load the model
	var engine, server time.Duration
	for b.Loop() {
		t := time.Now()
		res, err := m.Generate(context.Background(), benchReq, func(string) error { return nil })
		if err != nil || res.CompletionTokens != benchTokens {
			b.Fatalf("engine: %d tokens, %v", res.CompletionTokens, err)
		}
		engine += time.Since(t)
		t = time.Now()
		viaHTTP()
		server += time.Since(t)
	}
	et := float64(b.N*benchTokens) / engine.Seconds()
	st := float64(b.N*benchTokens) / server.Seconds()
	b.ReportMetric(et, "engine_tok/s")
	b.ReportMetric(st, "server_tok/s")
	b.ReportMetric(st/et, "server/engine")
}

// BenchmarkConcurrentSessions compares one generation at a time (what the
// server does per model) with two at once on separate sessions: the
// aggregate tokens/s of each.
func BenchmarkConcurrentSessions(b *testing.B) {
	path := benchModel(b)
	m, err := inference.OpenConfig(path, inference.Config{IdleSessions: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	gen := func() {
		if _, err := m.Generate(context.Background(), benchReq, nil); err != nil {
			b.Fatal(err)
		}
	}
	gen()
	var serial, parallel time.Duration
	for b.Loop() {
		t := time.Now()
		gen()
		gen()
		serial += time.Since(t)
		t = time.Now()
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(gen)
		}
		wg.Wait()
		parallel += time.Since(t)
	}
	toks := float64(b.N * 2 * benchTokens)
	b.ReportMetric(toks/serial.Seconds(), "serial_tok/s")
	b.ReportMetric(toks/parallel.Seconds(), "parallel2_tok/s")
	b.ReportMetric(serial.Seconds()/parallel.Seconds(), "parallel/serial")
}
