package hfapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/manifest"
)

// BenchmarkResolve serves one cached file over GET /resolve on loopback and,
// in the same loop, the same bytes from a plain file with http.ServeFile
// (sendfile), and /resolve again with the store's read verification off.
// It reports the throughputs, the ratios to http.ServeFile (x_servefile,
// verified reads; x_servefile_unverified), and the CPU time of the whole
// process (server and client) per GiB of each.
// CAIRN_BENCH_SIZE sets the file size in bytes (default 64 MiB; 1073741824
// for the 1 GiB figure). The client reads as io.Copy into
// io.Discard does, 8 KiB at a time, at about 0.55 s of CPU per GiB on the
// 2-core VM: http.ServeFile's time is mostly the client's, so the ratio
// says whether the server's hashing fits beside the client on 2 cores.
func BenchmarkResolve(b *testing.B) {
	size := 64 << 20
	if s := os.Getenv("CAIRN_BENCH_SIZE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("CAIRN_BENCH_SIZE=%q: want a positive byte count", s)
		}
		size = n
	}
	st := openStore(b)
	content := safetensors(size, 3)
	dir := writeRepo(b, map[string][]byte{"model.safetensors": content})
	content = nil
	res, err := ingest.Add(b.Context(), st, dir, ingest.AddOptions{Repo: "bench/model", Kind: manifest.Model})
	if err != nil {
		b.Fatal(err)
	}
	m := res.Manifest
	plain := filepath.Join(dir, "model.safetensors")

	s, err := New(st, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	cairn := httptest.NewServer(s)
	defer cairn.Close()
	ref := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, plain) }))
	defer ref.Close()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	var cc, cr, cu time.Duration // CPU time of the process (server and client)
	get := func(url string, cpu *time.Duration) time.Duration {
		start, c0 := time.Now(), cpuTime(b)
		defer func() { *cpu += cpuTime(b) - c0 }()
		res, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 || n != m.Files[0].Size {
			b.Fatalf("GET %s = %d, %d bytes, %v; want 200, %d bytes", url, res.StatusCode, n, err, m.Files[0].Size)
		}
		return time.Since(start)
	}
	url := cairn.URL + "/bench/model/resolve/main/model.safetensors"
	var warm time.Duration
	get(url, &warm) // warm both: page cache, connections
	get(ref.URL, &warm)
	var tc, tr, tu time.Duration
	b.SetBytes(m.Files[0].Size)
	b.ResetTimer()
	for range b.N {
		tc += get(url, &cc)
		b.StopTimer()
		tr += get(ref.URL, &cr)
		st.HashOnRead(false)
		tu += get(url, &cu)
		st.HashOnRead(true)
		b.StartTimer()
	}
	mb := float64(m.Files[0].Size) * float64(b.N) / 1e6
	b.ReportMetric(mb/tc.Seconds(), "MB/s_resolve")
	b.ReportMetric(mb/tr.Seconds(), "MB/s_servefile")
	b.ReportMetric(tr.Seconds()/tc.Seconds(), "x_servefile")
	b.ReportMetric(tr.Seconds()/tu.Seconds(), "x_servefile_unverified")
	gib := float64(m.Files[0].Size) * float64(b.N) / (1 << 30)
	b.ReportMetric(cc.Seconds()/gib, "cpu_s/GiB_resolve")
	b.ReportMetric(cr.Seconds()/gib, "cpu_s/GiB_servefile")
	b.ReportMetric(cu.Seconds()/gib, "cpu_s/GiB_unverified")
}
