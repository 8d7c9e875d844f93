package direct

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// data returns n pseudo-random bytes, different for every seed, so that a
// write landing at the wrong offset shows.
func data(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 1})
	_, _ = r.Read(b)
	return b
}

const mib = 1 << 20

// writeAll writes each of ws with w, checking n and Offset after each, and
// returns the bytes written.
func writeAll(t *testing.T, w *Writer, start int64, ws [][]byte) []byte {
	t.Helper()
	var all []byte
	for i, p := range ws {
		n, err := w.Write(p)
		if err != nil || n != len(p) {
			t.Fatalf("Write(#%d, %d bytes) = %d, %v, want %d, nil", i, len(p), n, err, len(p))
		}
		all = append(all, p...)
		if got, want := w.Offset(), start+int64(len(all)); got != want {
			t.Fatalf("Offset() after write #%d (%d bytes) = %d, want %d", i, len(p), got, want)
		}
	}
	return all
}

// checkFile compares the whole of path with want, bytes and size.
func checkFile(t *testing.T, path string, want []byte) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len(want)) {
		t.Errorf("size of %s = %d, want %d", filepath.Base(path), fi.Size(), len(want))
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("content of %s (%d bytes) differs from the %d bytes written, first at %d", filepath.Base(path), len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func sizes(ns ...int) [][]byte {
	ws := make([][]byte, len(ns))
	for i, n := range ns {
		ws[i] = data(uint64(i+1)*7919+uint64(n), n)
	}
	return ws
}

var writeCases = []struct {
	name string
	ws   [][]byte
}{
	{"nothing", nil},
	{"0", sizes(0)},
	{"1", sizes(1)},
	{"4095", sizes(4095)},
	{"4096", sizes(4096)},
	{"4097", sizes(4097)},
	{"4MiB-1", sizes(4*mib - 1)},
	{"4MiB", sizes(4 * mib)},
	{"4MiB+1", sizes(4*mib + 1)},
	{"0,0,1,0", sizes(0, 0, 1, 0)},
	{"1x4096", sizes(slices.Repeat([]int{1}, 4096)...)},
	{"mixed small", sizes(1, 4095, 4096, 4097, 0, 3, 8191, 12288)},
	{"mixed across buffer", sizes(4*mib-1, 1, 4*mib+1, 4095, 4*mib, 2, 3*mib+17)},
	{"9MiB", sizes(9 * mib)},
}

func TestWriter(t *testing.T) {
	for _, tc := range writeCases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			testWrites(t, path, tc.ws)
		})
	}
}

func testWrites(t *testing.T, path string, ws [][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewWriter(f, 0)
	if got := w.Offset(); got != 0 {
		t.Fatalf("NewWriter(f, 0).Offset() = %d, want 0", got)
	}
	all := writeAll(t, w, 0, ws)
	if err := w.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	checkFile(t, path, all)
}

// TestWriterPad writes a, pads, writes b and closes: the file holds a,
// zeros to the next page, then b; and after Pad alone every byte of a is
// in the file already.
func TestWriterPad(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []int
	}{
		{"nothing", nil, []int{10}},
		{"0", []int{0}, []int{10}},
		{"1", []int{1}, []int{1}},
		{"4095", []int{4095}, []int{4097}},
		{"4096", []int{4096}, []int{4096}},
		{"4097", []int{4097}, []int{5}},
		{"4MiB-1", []int{4*mib - 1}, []int{4 * mib}},
		{"4MiB", []int{4 * mib}, []int{1}},
		{"4MiB+1", []int{4*mib + 1}, []int{4*mib + 1}},
		{"mixed", []int{3, 5000, 0, 4*mib - 100}, []int{7, 4096}},
		{"nothing after", []int{12345}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			w := NewWriter(f, 0)
			a := writeAll(t, w, 0, sizes(tc.a...))
			if err := w.Pad(); err != nil {
				t.Fatalf("Pad() = %v", err)
			}
			off := w.Offset()
			if want := Up(int64(len(a))); off != want || off%Align != 0 {
				t.Fatalf("Offset() after %d bytes and Pad = %d, want %d", len(a), off, want)
			}
			// Pad on a page boundary, with nothing buffered, moves nothing.
			if err := w.Pad(); err != nil || w.Offset() != off {
				t.Fatalf("second Pad() = %v, Offset() = %d, want nil, %d", err, w.Offset(), off)
			}
			// Pad wrote everything: the file holds a, zero padded.
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			padded := append(append([]byte(nil), a...), make([]byte, off-int64(len(a)))...)
			if !bytes.Equal(got, padded) {
				t.Errorf("file after Pad: %d bytes, want the %d written + %d zeros (first difference at %d)", len(got), len(a), off-int64(len(a)), firstDiff(got, padded))
			}
			bs := sizes(tc.b...)
			for i := range bs {
				bs[i] = data(uint64(1000+i), len(bs[i])) // unlike a's
			}
			b := writeAll(t, w, off, bs)
			if err := w.Close(); err != nil {
				t.Fatalf("Close() = %v", err)
			}
			// Close truncates after the last byte written; the padding of
			// the earlier Pad is before the Offset it returned, so it stays.
			checkFile(t, path, append(padded, b...))
		})
	}
}

// TestWriterStart opens writers at offsets of a file already holding
// bytes: writing starts on the next page, the bytes before stay.
func TestWriterStart(t *testing.T) {
	for _, tc := range []struct {
		pre   int   // bytes in the file before
		start int64 // NewWriter's offset
		want  int64 // first Offset
	}{
		{0, 0, 0},
		{0, 1, 4096},
		{100, 100, 4096},
		{4095, 4095, 4096},
		{4096, 4096, 4096},
		{4097, 4097, 8192},
		{5000, 4096, 4096}, // overwrites bytes 4096..4999
		{0, 3*mib + 5, 3*mib + 4096},
	} {
		t.Run(fmt.Sprintf("pre=%d,start=%d", tc.pre, tc.start), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			pre := data(99, tc.pre)
			if err := os.WriteFile(path, pre, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			w := NewWriter(f, tc.start)
			if got := w.Offset(); got != tc.want {
				t.Fatalf("NewWriter(f, %d).Offset() = %d, want %d", tc.start, got, tc.want)
			}
			b := writeAll(t, w, tc.want, sizes(1, 4097, 10))
			if err := w.Close(); err != nil {
				t.Fatalf("Close() = %v", err)
			}
			want := make([]byte, tc.want) // a hole reads as zeros
			copy(want, pre)
			want = append(want, b...)
			checkFile(t, path, want)
		})
	}
}

// TestWriterTmpfs writes on tmpfs, where O_DIRECT is refused by old
// kernels (the writer stays buffered) and accepted by new ones: the bytes
// must be right either way.
func TestWriterTmpfs(t *testing.T) {
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		t.Skip("no /dev/shm on this system: tmpfs fallback not tested")
	}
	dir, err := os.MkdirTemp("/dev/shm", "direct-test-")
	if err != nil {
		t.Skipf("cannot write to /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, tc := range writeCases {
		t.Run(tc.name, func(t *testing.T) {
			testWrites(t, filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")), tc.ws)
		})
	}
	t.Run("pad", func(t *testing.T) {
		path := filepath.Join(dir, "pad")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		w := NewWriter(f, 0)
		t.Logf("fd flags on tmpfs: %s", fdFlags(f))
		a := writeAll(t, w, 0, sizes(5000))
		if err := w.Pad(); err != nil {
			t.Fatalf("Pad() = %v", err)
		}
		b := writeAll(t, w, 8192, sizes(3))
		if err := w.Close(); err != nil {
			t.Fatalf("Close() = %v", err)
		}
		want := append(append(a, make([]byte, 8192-len(a))...), b...)
		checkFile(t, path, want)
	})
}

// fdFlags is the flags line of f in /proc (Linux), for the log only.
func fdFlags(f *os.File) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", f.Fd()))
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "flags:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func TestBuf(t *testing.T) {
	for _, n := range []int{0, 1, 4095, 4096, 4097, 8192, mib + 3, bufSize} {
		b := Buf(n)
		if len(b) < n || len(b)%Align != 0 || len(b) != Up(n) {
			t.Errorf("len(Buf(%d)) = %d, want %d (>= n, a multiple of %d)", n, len(b), Up(n), Align)
		}
		if len(b) == 0 {
			continue
		}
		if a := uintptr(unsafe.Pointer(&b[0])) % Align; a != 0 {
			t.Errorf("address of Buf(%d) %% %d = %d, want 0", n, Align, a)
		}
		b[len(b)-1] = 1 // the whole length is usable
	}
}

func TestUpDown(t *testing.T) {
	for _, tc := range []struct{ n, up, down int64 }{
		{0, 0, 0},
		{1, 4096, 0},
		{4095, 4096, 0},
		{4096, 4096, 4096},
		{4097, 8192, 4096},
		{4<<30 + 1, 4<<30 + 4096, 4 << 30},
	} {
		if got := Up(tc.n); got != tc.up {
			t.Errorf("Up(%d) = %d, want %d", tc.n, got, tc.up)
		}
		if got := Down(tc.n); got != tc.down {
			t.Errorf("Down(%d) = %d, want %d", tc.n, got, tc.down)
		}
		if got := Up(int(tc.n)); int64(got) != tc.up {
			t.Errorf("Up(int %d) = %d, want %d", tc.n, got, tc.up)
		}
	}
}

// TestCached: bytes written past the page cache are not in it; read
// through it, they are.
func TestCached(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "c"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewWriter(f, 0)
	data := bytes.Repeat([]byte("cairn"), 300<<10)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	cached, err := Cached(f, 5000, 600<<10)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("this kernel cannot say what the page cache holds (cachestat, Linux 6.5)")
	}
	if err != nil {
		t.Fatalf("Cached() = %v", err)
	}
	if cached && clearDirect(f) { // written directly: nothing cached
		t.Errorf("Cached(after a direct write) = true, want false")
	}
	r, err := os.Open(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.ReadFull(io.NewSectionReader(r, 0, int64(len(data))), make([]byte, len(data))); err != nil {
		t.Fatal(err)
	}
	if cached, err := Cached(f, 5000, 600<<10); err != nil || !cached {
		t.Errorf("Cached(after a buffered read) = %v, %v; want true", cached, err)
	}
}
