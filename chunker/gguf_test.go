package chunker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/internal/fixture"
)

type ggufTensorSpec struct {
	name string
	dims []uint64
	typ  uint32
	data []byte
}

// ggufWriter builds GGUF headers for tests.
type ggufWriter struct{ b []byte }

func (w *ggufWriter) u32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *ggufWriter) u64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *ggufWriter) str(s string) { w.u64(uint64(len(s))); w.b = append(w.b, s...) }

// buildGGUF writes a v3 GGUF file with a few metadata values of every kind
// and the tensors laid out in order, aligned to align.
func buildGGUF(t testing.TB, tensors []ggufTensorSpec, align uint32, extraKV int) []byte {
	t.Helper()
	w := &ggufWriter{}
	w.b = append(w.b, "GGUF"...)
	w.u32(3)
	w.u64(uint64(len(tensors)))
	w.u64(uint64(5 + extraKV))
	w.str("general.architecture")
	w.u32(uint32(gguf.TypeString))
	w.str("llama")
	w.str("general.alignment")
	w.u32(uint32(gguf.TypeUint32))
	w.u32(align)
	w.str("llama.rope.freq_base")
	w.u32(uint32(gguf.TypeFloat32))
	w.u32(0x461c4000)
	w.str("tokenizer.ggml.tokens")
	w.u32(uint32(gguf.TypeArray))
	w.u32(uint32(gguf.TypeString))
	w.u64(3)
	for _, s := range []string{"<s>", "</s>", "hello"} {
		w.str(s)
	}
	w.str("tokenizer.ggml.scores")
	w.u32(uint32(gguf.TypeArray))
	w.u32(uint32(gguf.TypeFloat32))
	w.u64(3)
	for range 3 {
		w.u32(0)
	}
	for i := range extraKV {
		w.str("cairn.extra." + string(rune('a'+i%26)))
		w.u32(uint32(gguf.TypeUint64))
		w.u64(uint64(i))
	}
	var off uint64
	offs := make([]uint64, len(tensors))
	for i, ts := range tensors {
		offs[i] = off
		off = (off + uint64(len(ts.data)) + uint64(align) - 1) / uint64(align) * uint64(align)
	}
	for i, ts := range tensors {
		w.str(ts.name)
		w.u32(uint32(len(ts.dims)))
		for _, d := range ts.dims {
			w.u64(d)
		}
		w.u32(ts.typ)
		w.u64(offs[i])
	}
	for len(w.b)%int(align) != 0 {
		w.b = append(w.b, 0)
	}
	start := len(w.b)
	for i, ts := range tensors {
		for uint64(len(w.b)-start) < offs[i] {
			w.b = append(w.b, 0)
		}
		w.b = append(w.b, ts.data...)
	}
	return w.b
}

func ggufModel(seed uint64, n int) []ggufTensorSpec {
	ts := make([]ggufTensorSpec, n)
	for i := range ts {
		rows := uint64(1 + (i*37)%300)
		switch i % 3 {
		case 0: // F32
			ts[i] = ggufTensorSpec{name: "blk.f32", dims: []uint64{256, rows}, typ: 0, data: randBytes(seed+uint64(i), int(256*rows*4))}
		case 1: // Q8_0: 32 elements in 34 bytes
			ts[i] = ggufTensorSpec{name: "blk.q8", dims: []uint64{4096, rows}, typ: 8, data: randBytes(seed+uint64(i), int(4096/32*34*rows))}
		case 2: // Q4_K: 256 elements in 144 bytes
			ts[i] = ggufTensorSpec{name: "blk.q4k", dims: []uint64{4096, rows}, typ: 12, data: randBytes(seed+uint64(i), int(4096/256*144*rows))}
		}
	}
	return ts
}

func TestGGUFChunking(t *testing.T) {
	ts := ggufModel(10, 24)
	file := buildGGUF(t, ts, 32, 0)
	info, err := parseGGUF(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.tensors) != len(ts) {
		t.Fatalf("parseGGUF found %d tensors, want %d", len(info.tensors), len(ts))
	}
	starts := chunkStarts(t, &planSplit{bounds: info.plan(int64(len(file)), MaxBlockSize)}, file)
	for i, tr := range info.tensors {
		if !bytes.Equal(file[tr.begin:tr.begin+int64(len(ts[i].data))], ts[i].data) {
			t.Fatalf("tensor %d: region does not start at its data", i)
		}
		for off := tr.begin; off < tr.end; off += MaxBlockSize {
			if !contains(starts, off) {
				t.Errorf("tensor %d: no chunk starts at %d", i, off)
			}
		}
	}
	if !contains(starts, info.dataStart) {
		t.Errorf("no chunk starts at the data section %d", info.dataStart)
	}
}

func TestGGUFDedupAcrossHeaderChange(t *testing.T) {
	ctx := t.Context()
	ts := ggufModel(20, 30)
	a := buildGGUF(t, ts, 32, 0)
	ts2 := append([]ggufTensorSpec(nil), ts...)
	for i := 0; i < len(ts2); i += 10 {
		ts2[i].data = randBytes(uint64(5000+i), len(ts2[i].data))
	}
	b := buildGGUF(t, ts2, 32, 3) // a longer header: every tensor moves
	st := newMemStore()
	if _, err := ImportFile(ctx, st, bytes.NewReader(a), int64(len(a)), "a.gguf", Options{}); err != nil {
		t.Fatal(err)
	}
	res, err := ImportFile(ctx, st, bytes.NewReader(b), int64(len(b)), "b.gguf", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var changed int
	for i := 0; i < len(ts2); i += 10 {
		changed += len(ts2[i].data)
	}
	// New: the changed tensors, the header, file nodes, a little padding.
	if limit := int64(changed) + 64<<10; res.NewBytes > limit {
		t.Errorf("second import NewBytes = %d, want <= %d (changed tensors %d bytes)", res.NewBytes, limit, changed)
	}
}

func TestGGUFFixture(t *testing.T) {
	p := fixture.Path(t, fixture.Model)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	info, err := parseGGUF(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("parseGGUF(%s): %v", p, err)
	}
	if len(info.tensors) == 0 || info.dataStart <= 0 || info.dataStart%info.alignment != 0 {
		t.Fatalf("parseGGUF(%s) = %d tensors, data at %d", p, len(info.tensors), info.dataStart)
	}
	st := newMemStore()
	res, err := ImportFile(t.Context(), st, bytes.NewReader(data), int64(len(data)), "stories260K.gguf", Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(t.Context(), st, res.CID)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data))
	if n, err := r.ReadAt(got, 0); n != len(data) || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), want the fixture's %d", n, err, len(data))
	}
}

func TestMalformedGGUF(t *testing.T) {
	good := buildGGUF(t, ggufModel(30, 3), 32, 0)
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "past the end"},
		{"bad magic", mut(func(b []byte) []byte { b[0] = 'X'; return b }), "magic"},
		{"version 1", mut(func(b []byte) []byte { b[4] = 1; return b }), "version"},
		{"huge tensor count", mut(func(b []byte) []byte { binary.LittleEndian.PutUint64(b[8:], 1<<60); return b }), "tensor count"},
		{"huge kv count", mut(func(b []byte) []byte { binary.LittleEndian.PutUint64(b[16:], 1<<60); return b }), "metadata count"},
		{"huge key length", mut(func(b []byte) []byte { binary.LittleEndian.PutUint64(b[24:], 1<<62); return b }), "past the end"},
		{"truncated data", good[:len(good)-100], "overlap"},
		{"truncated header", good[:200], "past the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ImportFile(t.Context(), newMemStore(), bytes.NewReader(tc.file), int64(len(tc.file)), "m.gguf", Options{})
			if err == nil {
				t.Fatalf("ImportFile = nil error, want one mentioning %q", tc.want)
			}
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "m.gguf") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ImportFile error = %q, want ErrFormat naming the file and %q", err, tc.want)
			}
		})
	}
}
