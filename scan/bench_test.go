package scan

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnhub/cairn/scan/scantest"
)

var benchTensorBytes = flag.Int64("scan.tensorbytes", 1<<30, "bytes of tensor data in BenchmarkCheckpoint's checkpoint")

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// BenchmarkCheckpoint scans a 1 GiB-shaped PyTorch checkpoint and, as the
// reference, hashes the same bytes with sha256 (what every import does).
// The scanner reads the pickle and the small members, not the tensor data.
func BenchmarkCheckpoint(b *testing.B) {
	path := filepath.Join(b.TempDir(), "pytorch_model.bin")
	scantest.WriteCheckpoint(b, path, *benchTensorBytes, zeros{})
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	size := fi.Size()
	var scanTime, hashTime time.Duration
	var read int64
	for b.Loop() {
		t0 := time.Now()
		rep, err := File(context.Background(), path, f, size)
		scanTime += time.Since(t0)
		if err != nil || rep.Verdict != Safe || rep.Format != FormatTorchZip {
			b.Fatalf("scan: %v %s", err, rep.Summary())
		}
		read = rep.BytesRead
		t1 := time.Now()
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
			b.Fatal(err)
		}
		hashTime += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(scanTime.Microseconds())/n, "scan-µs/op")
	b.ReportMetric(float64(hashTime.Microseconds())/n, "sha256-µs/op")
	b.ReportMetric(float64(read), "scan-bytes-read")
	b.Logf("file %d bytes: scan %v (read %d bytes), sha256 %v, scan/sha256 = %.6f",
		size, scanTime/time.Duration(b.N), read, hashTime/time.Duration(b.N), float64(scanTime)/float64(hashTime))
}

// BenchmarkPickleWalk walks a large protocol-4 state dict of short keys and
// integers, the opcode mix of a big checkpoint's data.pkl; sha256 of the
// same bytes is the reference.
func BenchmarkPickleWalk(b *testing.B) {
	var p bytes.Buffer
	p.WriteString("\x80\x04\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94(")
	for i := range 1 << 20 {
		key := "model.layers." + string(rune('a'+i%26)) + ".weight"
		p.WriteString("\x8c" + string(rune(len(key))) + key + "\x94J")
		p.Write([]byte{byte(i), byte(i >> 8), byte(i >> 16), 0})
		if i%1000 == 999 {
			p.WriteString("u(")
		}
	}
	p.WriteString("u.")
	data := p.Bytes()
	b.SetBytes(int64(len(data)))
	var hashTime time.Duration
	for b.Loop() {
		rep, err := (&Scanner{}).Pickle(context.Background(), bytes.NewReader(data))
		if err != nil || rep.Verdict != Safe {
			b.Fatalf("%v %s", err, rep.Summary())
		}
		t0 := time.Now()
		sha256.Sum256(data)
		hashTime += time.Since(t0)
	}
	b.ReportMetric(float64(len(data))/hashTime.Seconds()*float64(b.N)/1e6, "sha256-MB/s")
}
