package gguf

import (
	"bytes"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// checkHeader compares a header read with the full read of the same bytes.
func checkHeader(t *testing.T, h, full *File) {
	t.Helper()
	if !reflect.DeepEqual(h.Tensors, full.Tensors) || h.DataOffset != full.DataOffset || h.Alignment != full.Alignment || h.Version != full.Version {
		t.Fatalf("ReadHeader = %d tensors, data at %d, alignment %d; Read = %d tensors, data at %d, alignment %d",
			len(h.Tensors), h.DataOffset, h.Alignment, len(full.Tensors), full.DataOffset, full.Alignment)
	}
	for _, kv := range h.KV {
		v, ok := full.Lookup(kv.Key)
		if !ok || !reflect.DeepEqual(v, kv.Value) {
			t.Fatalf("ReadHeader %q = %v, Read = %v (%v)", kv.Key, kv.Value, v, ok)
		}
	}
	for _, kv := range full.KV {
		_, isArray := kv.Value.(Array)
		s, isString := kv.Value.(string)
		left := isArray || (isString && len(s) > maxHeaderString)
		if _, ok := h.Lookup(kv.Key); ok == left {
			t.Fatalf("ReadHeader kept %q: %v, want arrays and long strings (only) left out", kv.Key, ok)
		}
	}
}

func TestReadHeader(t *testing.T) {
	b := writeFile(t, sampleMeta(), sampleTensors())
	full, err := ReadBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ReadHeader(iotest.OneByteReader(bytes.NewReader(b)), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	checkHeader(t, h, full)
	if s, _ := h.String("str"); s != "héllo\x00world" {
		t.Errorf("String(str) = %q", s)
	}
	if _, err := h.TensorData("a"); err == nil || !strings.Contains(err.Error(), "header") {
		t.Errorf("TensorData of a header = %v, want an error saying only the header was read", err)
	}
}

// TestReadHeaderLenient: a tensor of an unknown type (its size unknown) and
// repeated tensor names, which Read refuses, are laid out by ReadHeader.
func TestReadHeaderLenient(t *testing.T) {
	in := start(2, 0)
	in.str("t").u32(1).u64(4).u32(1000).u64(0)
	in.str("t").u32(1).u64(4).u32(0).u64(32)
	for in.Len()%32 != 0 {
		in.WriteByte(0)
	}
	in.Write(make([]byte, 48))
	b := in.Bytes()
	if _, err := ReadBytes(b); err == nil {
		t.Fatalf("Read accepted an unknown tensor type")
	}
	h, err := ReadHeader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Tensors) != 2 || h.Tensors[0].Size != -1 || h.Tensors[1].Size != 16 || h.Tensors[1].Offset != 32 {
		t.Fatalf("ReadHeader tensors = %+v, want sizes -1 and 16", h.Tensors)
	}
	if ti, ok := h.Tensor("t"); !ok || ti.Size != -1 {
		t.Errorf("Tensor(t) = %+v, %v; want the first", ti, ok)
	}
}

// TestReadHeaderBoundedMemory reads past a 64 MiB array and a 16 MiB
// string streamed from a reader: what ReadHeader allocates stays far below
// what they take.
func TestReadHeaderBoundedMemory(t *testing.T) {
	const arrayLen, strLen = 64 << 20, 16 << 20
	head := start(1, 3)
	head.str("general.architecture").u32(uint32(TypeString)).str("llama")
	head.str("big.array").u32(uint32(TypeArray)).u32(uint32(TypeUint8)).u64(arrayLen)
	mid := &header{}
	mid.str("big.string").u32(uint32(TypeString)).u64(strLen)
	tail := &header{}
	tail.str("w").u32(1).u64(4).u32(0).u64(0)
	pos := int64(head.Len()+mid.Len()+tail.Len()) + arrayLen + strLen
	pad := (32 - pos%32) % 32
	tail.Write(make([]byte, pad+16))
	size := pos + pad + 16
	r := io.MultiReader(bytes.NewReader(head.Bytes()), io.LimitReader(zeros{}, arrayLen),
		bytes.NewReader(mid.Bytes()), io.LimitReader(zeros{}, strLen), bytes.NewReader(tail.Bytes()))

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	h, err := ReadHeader(r, size)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Errorf("ReadHeader allocated %d bytes for a header of %d, want under 4 MiB", got, pos)
	}
	if a, _ := h.Architecture(); a != "llama" || len(h.Tensors) != 1 || h.DataOffset != pos+pad {
		t.Errorf("ReadHeader = architecture %q, %d tensors, data at %d; want llama, 1, %d", a, len(h.Tensors), h.DataOffset, pos+pad)
	}
	if _, ok := h.Lookup("big.array"); ok {
		t.Errorf("ReadHeader kept the array")
	}
	if _, ok := h.Lookup("big.string"); ok {
		t.Errorf("ReadHeader kept the 16 MiB string")
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

func FuzzReadHeader(f *testing.F) {
	f.Add(writeFile(f, sampleMeta(), sampleTensors()))
	f.Add(writeFile(f, []KV{{"general.alignment", uint32(64)}}, sampleTensors()[:1]))
	f.Add([]byte("GGUF\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		size := int64(len(b))
		h, err := ReadHeader(bytes.NewReader(b), size)
		full, ferr := ReadBytes(b)
		if err != nil {
			if ferr == nil {
				t.Fatalf("ReadHeader: %v; Read accepted the file", err)
			}
			return
		}
		if h.DataOffset > size && len(h.Tensors) > 0 {
			t.Fatalf("data section at %d past the end %d", h.DataOffset, size)
		}
		for _, ti := range h.Tensors {
			if ti.Offset > uint64(size) || (ti.Size >= 0 && h.DataOffset+int64(ti.Offset)+ti.Size > size) {
				t.Fatalf("tensor %q (offset %d, %d bytes) past the end %d", ti.Name, ti.Offset, ti.Size, size)
			}
		}
		if ferr == nil {
			checkHeader(t, h, full)
		}
	})
}
