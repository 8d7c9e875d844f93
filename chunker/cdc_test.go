package chunker

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/cdc_golden.json")

// goldenCase is one CDC configuration over deterministic input.
type goldenCase struct {
	Name    string `json:"name"`
	Seed    uint64 `json:"seed"`
	Size    int    `json:"size"`
	Min     int    `json:"min"`
	Avg     int    `json:"avg"`
	Max     int    `json:"max"`
	Lengths []int  `json:"lengths"`
}

func cdcLengths(data []byte, c *fastCDC) []int {
	var out []int
	for off := 0; off < len(data); {
		n := c.cut(int64(off), data[off:], true)
		out = append(out, n)
		off += n
	}
	return out
}

// TestCDCGolden pins the boundaries FastCDC finds on ChaCha8 pseudo-random
// input: a change to the gear table, the masks or the loop shows up here.
func TestCDCGolden(t *testing.T) {
	path := filepath.Join("testdata", "cdc_golden.json")
	cases := []goldenCase{
		{Name: "default", Seed: 1, Size: 32 << 20, Min: DefaultMinSize, Avg: DefaultAvgSize, Max: DefaultMaxSize},
		{Name: "small", Seed: 2, Size: 1 << 20, Min: 2 << 10, Avg: 8 << 10, Max: 64 << 10},
	}
	for i := range cases {
		c := &cases[i]
		c.Lengths = cdcLengths(randBytes(c.Seed, c.Size), newFastCDC(c.Min, c.Avg, c.Max))
	}
	if *update {
		b, err := json.MarshalIndent(cases, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s (run with -update to create it): %v", path, err)
	}
	var want []goldenCase
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(cases) {
		t.Fatalf("golden file has %d cases, want %d", len(want), len(cases))
	}
	for i, c := range cases {
		w := want[i]
		if c.Name != w.Name || c.Seed != w.Seed || c.Size != w.Size || c.Min != w.Min || c.Avg != w.Avg || c.Max != w.Max {
			t.Fatalf("case %d = %+v, golden has another configuration", i, w.Name)
		}
		if len(c.Lengths) != len(w.Lengths) {
			t.Errorf("%s: %d chunks, golden %d", c.Name, len(c.Lengths), len(w.Lengths))
			continue
		}
		for k := range c.Lengths {
			if c.Lengths[k] != w.Lengths[k] {
				t.Errorf("%s: chunk %d is %d bytes, golden %d", c.Name, k, c.Lengths[k], w.Lengths[k])
				break
			}
		}
	}
}

// TestCDCProperties checks sizes and that an edit only moves nearby
// boundaries (the point of content-defined chunking).
func TestCDCProperties(t *testing.T) {
	data := randBytes(3, 16<<20)
	c := newFastCDC(DefaultMinSize, DefaultAvgSize, DefaultMaxSize)
	ls := cdcLengths(data, c)
	total := 0
	for i, n := range ls {
		if n > DefaultMaxSize || (n < DefaultMinSize && i != len(ls)-1) {
			t.Errorf("chunk %d is %d bytes, outside [%d, %d]", i, n, DefaultMinSize, DefaultMaxSize)
		}
		total += n
	}
	avg := total / len(ls)
	t.Logf("%d chunks, average %d bytes", len(ls), avg)
	if avg < DefaultAvgSize/2 || avg > 2*DefaultAvgSize {
		t.Errorf("average chunk %d bytes, want near %d", avg, DefaultAvgSize)
	}
	// Insert 100 bytes near the start: almost every later chunk survives.
	edited := append(append(bytes.Clone(data[:1000]), make([]byte, 100)...), data[1000:]...)
	before := map[string]bool{}
	off := 0
	for _, n := range ls {
		before[string(data[off:off+n])] = true
		off += n
	}
	same := 0
	ls2 := cdcLengths(edited, c)
	off = 0
	for _, n := range ls2 {
		if before[string(edited[off:off+n])] {
			same++
		}
		off += n
	}
	if same < len(ls2)-3 {
		t.Errorf("after a 100-byte insert %d of %d chunks are unchanged, want all but 3", same, len(ls2))
	}
}

// TestSplitterBatching: boundaries do not depend on how the reads were cut.
func TestSplitterBatching(t *testing.T) {
	data := randBytes(4, 21<<20+5)
	want := cdcLengths(data, newFastCDC(DefaultMinSize, DefaultAvgSize, DefaultMaxSize))
	st := newMemStore()
	res, err := ImportFile(t.Context(), st, bytes.NewReader(data), int64(len(data)), "x.bin", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	err = Walk(t.Context(), st, res.CID, func(_ cidT, b blockT) error {
		if b.Cid().Type() == 0x55 {
			got = append(got, len(b.RawData()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("ImportFile made %d leaves, one-shot CDC %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("leaf %d is %d bytes, one-shot CDC %d", i, got[i], want[i])
		}
	}
}

// BenchmarkFastCDC measures boundary finding alone (the reader goroutine
// does it for non-tensor files), beside crypto/sha256 over the same bytes.
func BenchmarkFastCDC(b *testing.B) {
	data := randBytes(8, 64<<20)
	c := newFastCDC(DefaultMinSize, DefaultAvgSize, DefaultMaxSize)
	b.SetBytes(int64(len(data)))
	var shaTime, cdcTime time.Duration
	for b.Loop() {
		t0 := time.Now()
		cdcLengths(data, c)
		t1 := time.Now()
		sha256.Sum256(data)
		cdcTime += t1.Sub(t0)
		shaTime += time.Since(t1)
	}
	b.ReportMetric(float64(len(data))*float64(b.N)/1e6/cdcTime.Seconds(), "cdc-MB/s")
	b.ReportMetric(float64(len(data))*float64(b.N)/1e6/shaTime.Seconds(), "sha256-MB/s")
}

// refCut is the plain one-byte-per-step FastCDC loop that cut must match.
func refCut(c *fastCDC, data []byte, final bool) int {
	n := len(data)
	if n <= c.min {
		if final {
			return n
		}
		return 0
	}
	limit := min(n, c.max)
	var h uint64
	for i := max(c.min-64, 0); i < limit; i++ {
		h = h<<1 + gear[data[i]]
		if i < c.min {
			continue
		}
		mask := c.maskL
		if i < c.avg {
			mask = c.maskS
		}
		if h&mask == 0 {
			return i + 1
		}
	}
	if limit == c.max || final {
		return limit
	}
	return 0
}

func TestCutMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, sz := range [][3]int{{64, 256, 1024}, {0, 256, 300}, {1, 256, 257}, {100, 512, 2048}, {DefaultMinSize, DefaultAvgSize, DefaultMaxSize}} {
		c := newFastCDC(sz[0], sz[1], sz[2])
		runs := 300
		if sz[2] > 1<<16 {
			runs = 8
		}
		for k := range runs {
			data := randBytes(uint64(k)*31+uint64(sz[2]), rng.IntN(3*sz[2]))
			for _, final := range []bool{false, true} {
				if got, want := c.cut(0, data, final), refCut(c, data, final); got != want {
					t.Fatalf("sizes %v, %d bytes, final %v: cut = %d, want %d", sz, len(data), final, got, want)
				}
			}
		}
	}
}
