package ingest

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cairnhub/cairn/store"
)

// BenchmarkGetHeld is `cairn get --out` of a revision the node already
// holds (ingest.Get: every block checked against its CID, the file against
// its sha256, written out), and `cairn verify` of it (Verify), each beside
// one sha256 pass over the same bytes in memory (x_sha256).
// CAIRN_BENCH_SIZE sets the file's size (default 256 MiB), e.g.:
//
//	CAIRN_BENCH_SIZE=536870912 go test -run '^$' -bench GetHeld -benchtime 3x ./ingest
func BenchmarkGetHeld(b *testing.B) {
	size := 256 << 20
	if s := os.Getenv("CAIRN_BENCH_SIZE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 1))
	for i := 0; i+8 <= len(data); i += 8 {
		v := r.Uint64()
		for k := range 8 {
			data[i+k] = byte(v >> (8 * k))
		}
	}
	src := b.TempDir()
	if err := os.WriteFile(filepath.Join(src, "data.bin"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	res, err := Add(b.Context(), st, src, AddOptions{Repo: "acme/held"})
	if err != nil {
		b.Fatal(err)
	}
	m := res.Manifest
	measure := func(b *testing.B, run func(i int) error) {
		var took, ref time.Duration
		b.SetBytes(int64(size))
		for i := 0; b.Loop(); i++ {
			t0 := time.Now()
			if err := run(i); err != nil {
				b.Fatal(err)
			}
			took += time.Since(t0)
			t0 = time.Now()
			sha256.Sum256(data)
			ref += time.Since(t0)
		}
		b.ReportMetric(ref.Seconds()/took.Seconds(), "x_sha256")
	}
	b.Run("get", func(b *testing.B) {
		measure(b, func(i int) error {
			return Get(b.Context(), st, m, m.Files, filepath.Join(b.TempDir(), strconv.Itoa(i)), GetOptions{})
		})
	})
	b.Run("verify", func(b *testing.B) {
		measure(b, func(int) error {
			probs, err := Verify(b.Context(), st, m)
			if err == nil && len(probs) > 0 {
				err = fmt.Errorf("verify: %v", probs)
			}
			return err
		})
	})
}
