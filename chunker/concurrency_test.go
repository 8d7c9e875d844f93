package chunker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentImports: more imports at once than the global buffer
// budget holds all finish, with the right digests.
func TestConcurrentImports(t *testing.T) {
	ctx := t.Context()
	st := newMemStore()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := randBytes(uint64(100+i), 17<<20+i)
			res, err := ImportFile(ctx, st, bytes.NewReader(data), int64(len(data)), "f.bin", Options{Strategy: Fixed, FixedSize: 1 << 20})
			if err != nil {
				errs <- err
				return
			}
			if res.CID != rawCIDFileRoot(t, data) {
				errs <- errors.New("wrong root")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(inflight); n != 0 {
		t.Errorf("%d buffers still counted in flight after every import returned", n)
	}
}

// rawCIDFileRoot is the root the same bytes get in a fresh store.
func rawCIDFileRoot(t *testing.T, data []byte) cidT {
	res, err := ImportFile(t.Context(), newMemStore(), bytes.NewReader(data), int64(len(data)), "f.bin", Options{Strategy: Fixed, FixedSize: 1 << 20, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	return res.CID
}

type shortReader struct{ data []byte }

func (r shortReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(r.data)) {
		return 0, io.EOF
	}
	n := copy(p, r.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func TestImportErrors(t *testing.T) {
	data := randBytes(5, 20<<20)
	// The file is shorter than the size given: the file shrank.
	_, err := ImportFile(t.Context(), newMemStore(), shortReader{data}, int64(len(data))+5, "shrunk.bin", Options{})
	if err == nil || !strings.Contains(err.Error(), "shrunk.bin") || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ImportFile(short file) = %v, want an unexpected-EOF error naming the file", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := ImportFile(ctx, newMemStore(), bytes.NewReader(data), int64(len(data)), "c.bin", Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("ImportFile(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := ImportFile(t.Context(), newMemStore(), bytes.NewReader(data), int64(len(data)), "c.bin", Options{MaxSize: 2 << 20}); err == nil {
		t.Errorf("ImportFile(MaxSize 2 MiB) = nil error, want a validation error")
	}
	if n := len(inflight); n != 0 {
		t.Errorf("%d buffers still counted in flight after failed imports", n)
	}
}
