package scan

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnhub/cairn/inference/gguf"
)

// fuzzLimits are small enough that hostile inputs hit them quickly.
var fuzzLimits = Limits{MaxStack: 4096, MaxMemo: 4096, MaxString: 4096, MaxRetained: 1 << 20,
	MaxPickleBytes: 1 << 22, MaxMembers: 256, MaxNested: 1 << 20, MaxHeader: 1 << 20, Timeout: 10 * time.Second}

// seedCorpus adds every corpus file whose name satisfies keep.
func seedCorpus(f *testing.F, keep func(name string) bool) {
	for _, name := range corpusFiles(f) {
		if !keep(name) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(corpusDir(f), name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkReport fails t when a report contradicts itself.
func checkReport(t *testing.T, rep Report, size int) {
	t.Helper()
	worst := Safe
	for _, fd := range rep.Findings {
		worst = max(worst, fd.Verdict)
		if fd.Reason == "" || fd.Kind == "" {
			t.Fatalf("finding without kind or reason: %+v", fd)
		}
	}
	if rep.Verdict != worst {
		t.Fatalf("verdict %s, worst finding %s: %+v", rep.Verdict, worst, rep.Findings)
	}
	if len(rep.Findings) > fuzzLimits.withDefaults().MaxFindings+1 {
		t.Fatalf("%d findings", len(rep.Findings))
	}
	_ = size
}

func scanFuzz(t *testing.T, name string, b []byte) Report {
	t.Helper()
	s := &Scanner{Limits: fuzzLimits}
	rep, err := s.File(context.Background(), name, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep, len(b))
	return rep
}

func FuzzPickle(f *testing.F) {
	seedCorpus(f, func(n string) bool {
		return strings.HasSuffix(n, ".pkl") || strings.HasSuffix(n, ".bin") || strings.HasSuffix(n, ".npy")
	})
	diff, err := filepath.Glob(filepath.Join(corpusDir(f), "diff", "*.pkl"))
	if err != nil || len(diff) == 0 {
		f.Fatalf("differential set: %v", err)
	}
	for _, p := range diff[:40] {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rep := scanFuzz(t, "x.pkl", b)
		s := &Scanner{Limits: fuzzLimits}
		srep, err := s.Pickle(context.Background(), bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		checkReport(t, srep, len(b))
		// The streaming form walks the same opcodes when File sees a pickle.
		if rep.Format == FormatPickle && looksPickle(b) && srep.Verdict != rep.Verdict {
			t.Fatalf("File says %s, Pickle says %s", rep.Verdict, srep.Verdict)
		}
		// Nothing after a denied import can hide it.
		evil := append([]byte("\x80\x02cos\nsystem\n0"), b...)
		if rep := scanFuzz(t, "x.pkl", evil); rep.Verdict != Unsafe {
			t.Fatalf("os.system followed by %q: %s", b, rep.Summary())
		}
	})
}

func FuzzZip(f *testing.F) {
	seedCorpus(f, func(n string) bool {
		return strings.HasSuffix(n, ".pt") || strings.HasSuffix(n, ".zip") || strings.HasSuffix(n, ".ckpt") ||
			strings.HasPrefix(n, "benign_torch_other")
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		scanFuzz(t, "x.pt", b)
		// Whatever else a zip holds, a malicious member is found.
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, m := range [][2]string{{"archive/data.pkl", string(b)}, {"archive/x", stackGlobalOS}} {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: m[0], Method: zip.Store})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte(m[1])); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if rep := scanFuzz(t, "x.pt", buf.Bytes()); rep.Verdict != Unsafe || !hasFinding(rep, KindImport, Unsafe, "archive/x") {
			t.Fatalf("zip with %q beside a malicious member: %s", b, rep.Summary())
		}
	})
}

func FuzzSafetensors(f *testing.F) {
	seedCorpus(f, func(n string) bool {
		return strings.HasSuffix(n, ".safetensors") || strings.HasSuffix(n, ".gguf")
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		if rep := scanFuzz(t, "x.safetensors", b); rep.Verdict == Safe && rep.Format == FormatSafetensors {
			checkSafetensorsTiling(t, b)
		}
		if rep := scanFuzz(t, "x.gguf", b); rep.Verdict == Safe && rep.Format == FormatGGUF {
			// The inference reader, a separate parser, must accept what
			// the scanner passes.
			g, err := gguf.ReadBytes(b)
			if err != nil {
				t.Fatalf("scanner passes a GGUF the reader rejects: %v", err)
			}
			g.Close()
		}
	})
}

// checkSafetensorsTiling checks that a passed safetensors file's tensors
// cover its data area exactly once.
func checkSafetensorsTiling(t *testing.T, b []byte) {
	t.Helper()
	n := binary.LittleEndian.Uint64(b)
	tensors, err := parseSafetensorsHeader(b[8 : 8+n])
	if err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, ts := range tensors {
		sum += ts.DataOffsets[1] - ts.DataOffsets[0]
	}
	if sum != uint64(len(b))-8-n {
		t.Fatalf("tensors cover %d bytes of a %d-byte data area", sum, uint64(len(b))-8-n)
	}
}
