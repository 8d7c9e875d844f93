package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/internal/fixture"
)

func sampleMeta() []KV {
	return []KV{
		{"general.architecture", "llama"},
		{"u8", uint8(200)},
		{"i8", int8(-100)},
		{"u16", uint16(60000)},
		{"i16", int16(-30000)},
		{"u32", uint32(4000000000)},
		{"i32", int32(-2000000000)},
		{"f32", float32(3.25)},
		{"bool.t", true},
		{"bool.f", false},
		{"str", "héllo\x00world"},
		{"empty", ""},
		{"u64", uint64(1 << 63)},
		{"i64", int64(-1 << 62)},
		{"f64", float64(-1.5e300)},
		{"a.u8", Array{TypeUint8, []uint8{1, 2, 3}}},
		{"a.i8", Array{TypeInt8, []int8{-1, 2}}},
		{"a.u16", Array{TypeUint16, []uint16{1, 65535}}},
		{"a.i16", Array{TypeInt16, []int16{-1, 7}}},
		{"a.u32", Array{TypeUint32, []uint32{5}}},
		{"a.i32", Array{TypeInt32, []int32{-5, 6, 7}}},
		{"a.f32", Array{TypeFloat32, []float32{0.5, -0.25}}},
		{"a.bool", Array{TypeBool, []bool{true, false, true}}},
		{"a.str", Array{TypeString, []string{"a", "", "ccc"}}},
		{"a.u64", Array{TypeUint64, []uint64{1 << 40}}},
		{"a.i64", Array{TypeInt64, []int64{-1 << 40}}},
		{"a.f64", Array{TypeFloat64, []float64{1e-300}}},
		{"a.empty", Array{TypeInt32, []int32{}}},
		{"a.nested", Array{TypeArray, []Array{
			{TypeString, []string{"x", "y"}},
			{TypeArray, []Array{{TypeFloat32, []float32{1}}}},
		}}},
	}
}

func sampleTensors() []Tensor {
	f32 := make([]byte, 4*6)
	for i := range f32 {
		f32[i] = byte(i)
	}
	q8 := make([]byte, 34*2)
	for i := range q8 {
		q8[i] = byte(255 - i)
	}
	return []Tensor{
		{Name: "a", Type: 0, Dims: []uint64{3, 2}, Data: f32},
		{Name: "b.q8", Type: 8, Dims: []uint64{32, 2}, Data: q8},
		{Name: "c", Type: 1, Dims: []uint64{1}, WriteData: func(w io.Writer) error { _, err := w.Write([]byte{1, 2}); return err }},
	}
}

func writeFile(t testing.TB, meta []KV, tensors []Tensor) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, meta, tensors); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	meta := sampleMeta()
	tensors := sampleTensors()
	b := writeFile(t, meta, tensors)
	path := filepath.Join(t.TempDir(), "x.gguf")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	opened, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer opened.Close()
	readers := map[string]*File{"open": opened}
	resident, err := OpenResident(path)
	if err != nil {
		t.Fatalf("OpenResident: %v", err)
	}
	defer resident.Close()
	readers["resident"] = resident
	if f, err := ReadResident(bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatalf("ReadResident: %v", err)
	} else {
		defer f.Close()
		readers["read-resident"] = f
	}
	if f, err := Read(bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatalf("Read: %v", err)
	} else {
		readers["read"] = f
	}
	if f, err := ReadBytes(b); err != nil {
		t.Fatalf("ReadBytes: %v", err)
	} else {
		readers["bytes"] = f
	}
	for name, f := range readers {
		t.Run(name, func(t *testing.T) {
			if f.Version != 3 {
				t.Errorf("Version = %d, want 3", f.Version)
			}
			if !reflect.DeepEqual(f.KV, meta) {
				t.Errorf("KV = %#v\nwant %#v", f.KV, meta)
			}
			for _, kv := range meta {
				v, ok := f.Lookup(kv.Key)
				if !ok || !reflect.DeepEqual(v, kv.Value) {
					t.Errorf("Lookup(%q) = %#v, want %#v", kv.Key, v, kv.Value)
				}
			}
			if len(f.Tensors) != len(tensors) {
				t.Fatalf("got %d tensors, want %d", len(f.Tensors), len(tensors))
			}
			for _, want := range tensors {
				ti, ok := f.Tensor(want.Name)
				if !ok {
					t.Fatalf("tensor %q missing", want.Name)
				}
				if ti.Type != want.Type || !reflect.DeepEqual(ti.Dims, want.Dims) || ti.Offset%32 != 0 {
					t.Errorf("tensor %q = %+v", want.Name, ti)
				}
				got, err := f.TensorData(want.Name)
				if err != nil {
					t.Fatalf("TensorData(%q): %v", want.Name, err)
				}
				wantData := want.Data
				if wantData == nil {
					wantData = []byte{1, 2}
				}
				if !bytes.Equal(got, wantData) {
					t.Errorf("TensorData(%q) = %v, want %v", want.Name, got, wantData)
				}
			}
			if (f.DataOffset % 32) != 0 {
				t.Errorf("DataOffset = %d, not aligned", f.DataOffset)
			}
			if _, err := f.TensorData("nope"); err == nil {
				t.Errorf("TensorData(nope) = nil error")
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	f, err := ReadBytes(writeFile(t, sampleMeta(), nil))
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := f.String("general.architecture"); !ok || s != "llama" {
		t.Errorf("String = %q, %v", s, ok)
	}
	if a, err := f.Architecture(); err != nil || a != "llama" {
		t.Errorf("Architecture = %q, %v", a, err)
	}
	for key, want := range map[string]uint64{"u8": 200, "u16": 60000, "u32": 4000000000, "u64": 1 << 63} {
		if got, ok := f.Uint(key); !ok || got != want {
			t.Errorf("Uint(%s) = %d, %v, want %d", key, got, ok, want)
		}
	}
	if _, ok := f.Uint("i8"); ok {
		t.Errorf("Uint(i8) of a negative value succeeded")
	}
	if got, ok := f.Int("i32"); !ok || got != -2000000000 {
		t.Errorf("Int(i32) = %d, %v", got, ok)
	}
	if got, ok := f.Float("f32"); !ok || got != 3.25 {
		t.Errorf("Float(f32) = %v, %v", got, ok)
	}
	if got, ok := f.Float("u8"); !ok || got != 200 {
		t.Errorf("Float(u8) = %v, %v", got, ok)
	}
	if got, ok := f.Bool("bool.t"); !ok || !got {
		t.Errorf("Bool = %v, %v", got, ok)
	}
	if got, ok := f.Strings("a.str"); !ok || !reflect.DeepEqual(got, []string{"a", "", "ccc"}) {
		t.Errorf("Strings = %v, %v", got, ok)
	}
	if got, ok := f.Float32s("a.f32"); !ok || !reflect.DeepEqual(got, []float32{0.5, -0.25}) {
		t.Errorf("Float32s = %v, %v", got, ok)
	}
	if got, ok := f.Int32s("a.i32"); !ok || !reflect.DeepEqual(got, []int32{-5, 6, 7}) {
		t.Errorf("Int32s = %v, %v", got, ok)
	}
	if got, ok := f.Int32s("a.u16"); !ok || !reflect.DeepEqual(got, []int32{1, 65535}) {
		t.Errorf("Int32s(u16) = %v, %v", got, ok)
	}
	if _, ok := f.String("u8"); ok {
		t.Errorf("String of a uint8 succeeded")
	}
	if _, ok := f.Strings("missing"); ok {
		t.Errorf("Strings of a missing key succeeded")
	}
}

// header builds the start of a file by hand for malformed-input tests.
type header struct{ bytes.Buffer }

func (h *header) u32(v uint32) *header { binary.Write(h, binary.LittleEndian, v); return h }
func (h *header) u64(v uint64) *header { binary.Write(h, binary.LittleEndian, v); return h }
func (h *header) str(s string) *header { h.u64(uint64(len(s))); h.WriteString(s); return h }
func start(tensors, kvs uint64) *header {
	h := &header{}
	h.WriteString("GGUF")
	return h.u32(3).u64(tensors).u64(kvs)
}

func TestMalformed(t *testing.T) {
	valid := writeFile(t, sampleMeta(), sampleTensors())
	aligned := start(0, 1).str("general.alignment").u32(uint32(TypeUint32)).u32(48).Bytes()
	tensorWith := func(nd uint32, dims []uint64, typ uint32, off uint64) []byte {
		h := start(1, 0).str("t").u32(nd)
		for _, d := range dims {
			h.u64(d)
		}
		h.u32(typ).u64(off)
		h.Write(make([]byte, 64))
		return h.Bytes()
	}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "magic"},
		{"bad magic", []byte("GGUX\x03\x00\x00\x00"), "bad magic"},
		{"version 1", append([]byte("GGUF"), 1, 0, 0, 0), "unsupported version 1"},
		{"truncated header", []byte("GGUF\x03\x00\x00\x00\x01"), "tensor count"},
		{"lying tensor count", start(1<<40, 0).Bytes(), "tensor count"},
		{"lying kv count", start(0, 1<<40).Bytes(), "metadata count"},
		{"huge key length", append(start(0, 1).u64(1<<50).Bytes(), make([]byte, 32)...), "metadata key #0 length"},
		{"unknown value type", start(0, 1).str("k").u32(99).u64(0).Bytes(), "unknown value type 99"},
		{"lying array length", start(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeUint64)).u64(1 << 30).u64(0).Bytes(), "array length"},
		{"lying string array", start(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(3).str("a").u64(1 << 40).Bytes(), "length"},
		{"bad bool", start(0, 1).str("k").u32(uint32(TypeBool)).u32(7).Bytes(), "bool value 7"},
		{"deep nesting", func() []byte {
			h := start(0, 1).str("k").u32(uint32(TypeArray))
			for range 20 {
				h.u32(uint32(TypeArray)).u64(1)
			}
			h.Write(make([]byte, 64))
			return h.Bytes()
		}(), "nested deeper"},
		{"bad alignment", aligned, "not a power of two"},
		{"alignment type", start(0, 1).str("general.alignment").u32(uint32(TypeUint64)).u64(32).Bytes(), "general.alignment has type"},
		{"too many dims", tensorWith(5, []uint64{1, 1, 1, 1, 1}, 0, 0), "5 dimensions"},
		{"zero dims", tensorWith(0, nil, 0, 0), "0 dimensions"},
		{"unknown tensor type", tensorWith(1, []uint64{4}, 1000, 0), "unknown tensor type 1000"},
		{"misaligned offset", tensorWith(1, []uint64{4}, 0, 3), "not a multiple of the alignment"},
		{"offset past EOF", tensorWith(1, []uint64{4}, 0, 1<<20), "past the end of the file"},
		{"size past EOF", tensorWith(2, []uint64{1024, 1024}, 0, 0), "past the end of the file"},
		{"block mismatch", tensorWith(1, []uint64{33}, 8, 0), "not a multiple of the Q8_0 block size"},
		{"overflowing dims", tensorWith(4, []uint64{1 << 34, 1 << 34, 1 << 34, 1 << 34}, 0, 0), "too large"},
		{"truncated file", valid[:len(valid)-31], "past the end of the file"},
		{"truncated metadata", valid[:100], "left in file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Read(bytes.NewReader(tc.in), int64(len(tc.in)))
			if err == nil {
				t.Fatalf("Read = %+v, nil error; want error containing %q", f, tc.want)
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("error %v does not wrap ErrFormat", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Read error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	t.Run("duplicate key", func(t *testing.T) {
		in := start(0, 2).str("k").u32(uint32(TypeUint8))
		in.WriteByte(0)
		in.str("k").u32(uint32(TypeUint8))
		in.WriteByte(0)
		_, err := Read(bytes.NewReader(in.Bytes()), int64(in.Len()))
		if err == nil || !strings.Contains(err.Error(), "duplicate metadata key") {
			t.Errorf("Read error = %v, want duplicate metadata key", err)
		}
	})
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name    string
		meta    []KV
		tensors []Tensor
	}{
		{"bad value", []KV{{"k", struct{}{}}}, nil},
		{"bad alignment", []KV{{"general.alignment", uint32(3)}}, nil},
		{"short data", nil, []Tensor{{Name: "t", Type: 0, Dims: []uint64{4}, Data: make([]byte, 3)}}},
		{"array type mismatch", []KV{{"k", Array{TypeString, []int32{1}}}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Write(&bytes.Buffer{}, tc.meta, tc.tensors); err == nil {
				t.Errorf("Write = nil error, want error")
			}
		})
	}
}

func TestCustomAlignment(t *testing.T) {
	meta := []KV{{"general.alignment", uint32(64)}}
	b := writeFile(t, meta, sampleTensors())
	f, err := ReadBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.Alignment != 64 || f.DataOffset%64 != 0 {
		t.Errorf("Alignment = %d, DataOffset = %d", f.Alignment, f.DataOffset)
	}
	for _, ti := range f.Tensors {
		if ti.Offset%64 != 0 {
			t.Errorf("tensor %q offset %d not 64-aligned", ti.Name, ti.Offset)
		}
	}
}

func TestFixture(t *testing.T) {
	path := fixture.Path(t, fixture.Model)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if a, _ := f.Architecture(); a != "llama" {
		t.Errorf("architecture = %q, want llama", a)
	}
	toks, ok := f.Strings("tokenizer.ggml.tokens")
	if !ok || len(toks) != 512 {
		t.Errorf("tokenizer.ggml.tokens has %d entries, want 512", len(toks))
	}
	ti, ok := f.Tensor("token_embd.weight")
	if !ok || !reflect.DeepEqual(ti.Dims, []uint64{64, 512}) {
		t.Errorf("token_embd.weight = %+v", ti)
	}
}

func FuzzRead(f *testing.F) {
	f.Add(writeFile(f, sampleMeta(), sampleTensors()))
	f.Add(writeFile(f, []KV{{"general.alignment", uint32(64)}}, sampleTensors()[:1]))
	f.Add([]byte("GGUF\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := ReadBytes(b)
		if err != nil {
			return
		}
		for _, ti := range file.Tensors {
			d, err := file.TensorData(ti.Name)
			if err != nil || int64(len(d)) != ti.Size {
				t.Fatalf("TensorData(%q) = %d bytes, %v; want %d", ti.Name, len(d), err, ti.Size)
			}
		}
		var buf bytes.Buffer
		ts := make([]Tensor, len(file.Tensors))
		for i, ti := range file.Tensors {
			d, _ := file.TensorData(ti.Name)
			ts[i] = Tensor{Name: ti.Name, Type: ti.Type, Dims: ti.Dims, Data: d}
		}
		if err := Write(&buf, file.KV, ts); err != nil {
			t.Fatalf("re-Write of a file Read accepted: %v", err)
		}
		again, err := ReadBytes(buf.Bytes())
		if err != nil {
			t.Fatalf("re-Read: %v", err)
		}
		if !reflect.DeepEqual(again.KV, file.KV) && len(file.KV) > 0 {
			t.Fatalf("metadata changed on round trip")
		}
	})
}
