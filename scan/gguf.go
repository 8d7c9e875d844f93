package scan

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"

	"github.com/cairnhub/cairn/inference/gguf"
)

// ggufHeader reads a GGUF header without keeping metadata values, so its
// memory is bounded by the tensor count, not by the metadata.
type ggufHeader struct {
	br   *bufio.Reader
	pos  int64
	size int64
	buf  [8]byte
	err  error
}

func (h *ggufHeader) fail(format string, args ...any) {
	if h.err == nil {
		h.err = fmt.Errorf("at offset %d: %s", h.pos, fmt.Sprintf(format, args...))
	}
}

func (h *ggufHeader) read(n int, what string) []byte {
	if h.err != nil {
		return make([]byte, 8)
	}
	if int64(n) > h.size-h.pos {
		h.fail("%s needs %d bytes, %d left in file", what, n, h.size-h.pos)
		return make([]byte, 8)
	}
	if _, err := io.ReadFull(h.br, h.buf[:n]); err != nil {
		h.fail("reading %s: %v", what, err)
		return make([]byte, 8)
	}
	h.pos += int64(n)
	return h.buf[:n]
}

func (h *ggufHeader) u32(what string) uint32 { return binary.LittleEndian.Uint32(h.read(4, what)) }
func (h *ggufHeader) u64(what string) uint64 { return binary.LittleEndian.Uint64(h.read(8, what)) }

// skip discards n bytes that must lie inside the file.
func (h *ggufHeader) skip(n uint64, what string) {
	if h.err != nil {
		return
	}
	if n > uint64(h.size-h.pos) {
		h.fail("%s of %d bytes exceeds the %d bytes left in file", what, n, h.size-h.pos)
		return
	}
	if _, err := h.br.Discard(int(n)); err != nil {
		h.fail("reading %s: %v", what, err)
	}
	h.pos += int64(n)
}

// str reads a string, keeping at most keep bytes of it.
func (h *ggufHeader) str(what string, keep int) string {
	n := h.u64(what + " length")
	if h.err != nil || n > uint64(keep) {
		h.skip(n, what)
		return ""
	}
	if n > uint64(h.size-h.pos) {
		h.fail("%s of %d bytes exceeds the %d bytes left in file", what, n, h.size-h.pos)
		return ""
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(h.br, b); err != nil {
		h.fail("reading %s: %v", what, err)
	}
	h.pos += int64(n)
	return string(b)
}

// ggufFixed is the size of each fixed-size GGUF metadata value type.
var ggufFixed = map[uint32]uint64{0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

// value skips one metadata value of type t.
func (h *ggufHeader) value(t uint32, what string, depth int) {
	if n, ok := ggufFixed[t]; ok {
		h.skip(n, what)
		return
	}
	switch t {
	case 8:
		h.skip(h.u64(what+" length"), what)
	case 9:
		if depth > 8 {
			h.fail("%s: arrays nested deeper than 8", what)
			return
		}
		et := h.u32(what + " element type")
		n := h.u64(what + " array length")
		if sz, ok := ggufFixed[et]; ok {
			if n > uint64(h.size)/sz {
				h.fail("%s: %d elements cannot fit in the file", what, n)
				return
			}
			h.skip(n*sz, what)
			return
		}
		if n > uint64(h.size)/8 {
			h.fail("%s: %d elements cannot fit in the file", what, n)
			return
		}
		for i := uint64(0); i < n && h.err == nil; i++ {
			h.value(et, what, depth+1)
		}
	default:
		h.fail("%s: unknown value type %d", what, t)
	}
}

// maxGGUFDim bounds each dimension as the inference reader does; llama.cpp
// bounds the element count to int64, checked as well.
const maxGGUFDim = math.MaxInt32 * 8

// ggufMaxName is llama.cpp's GGML_MAX_NAME: tensor names are shorter.
const ggufMaxName = 64

// gguf validates a GGUF header: magic, version 2 or 3, metadata that fits
// in the file, an alignment that is a power of two, and every tensor known
// in type, 1–4 dimensions, aligned, sized as its type and shape say, inside
// the data section and overlapping no other tensor.
func (st *state) gguf(r io.ReaderAt, size int64, member string) {
	spans, err := ggufSpans(r, size, st)
	if err != nil {
		st.find(Finding{Kind: KindHeader, Verdict: Unsafe, Member: member, Reason: "gguf: " + err.Error()})
		return
	}
	checkSpans(spans, 0, false, func(off uint64, format string, args ...any) {
		st.find(Finding{Kind: KindHeader, Verdict: Unsafe, Member: member, Offset: int64(min(off, math.MaxInt64)),
			Reason: "gguf: " + fmt.Sprintf(format, args...)})
	})
}

type ggufTensor struct {
	name   string
	dims   []uint64
	typ    uint32
	offset uint64
}

func ggufSpans(r io.ReaderAt, size int64, st *state) ([]span, error) {
	h := &ggufHeader{br: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10), size: size}
	if string(h.read(4, "magic")) != "GGUF" {
		return nil, fmt.Errorf("bad magic")
	}
	if v := h.u32("version"); h.err == nil && v != 2 && v != 3 {
		return nil, fmt.Errorf("unsupported version %d (want 2 or 3)", v)
	}
	nt, nkv := h.u64("tensor count"), h.u64("metadata count")
	if h.err == nil && (nt > uint64(size)/32 || nkv > uint64(size)/13) {
		return nil, fmt.Errorf("%d tensors and %d metadata entries cannot fit in %d bytes", nt, nkv, size)
	}
	if lim := uint64(st.lim.MaxTensors); h.err == nil && (nt > lim || nkv > lim) {
		return nil, fmt.Errorf("%d tensors and %d metadata entries: more than the limit of %d", nt, nkv, lim)
	}
	align := h.metadata(nkv, st)
	tensors := make([]ggufTensor, 0, min(nt, 1<<16))
	for i := uint64(0); i < nt && h.err == nil; i++ {
		tensors = append(tensors, h.tensor(i))
	}
	if h.err != nil {
		return nil, h.err
	}
	data := (uint64(h.pos) + align - 1) / align * align
	return ggufCheckTensors(tensors, data, uint64(size), align)
}

// metadata skips nkv metadata entries, checking that keys are unique and
// that general.alignment is a uint32 power of two, which it returns.
func (h *ggufHeader) metadata(nkv uint64, st *state) uint64 {
	align := uint64(gguf.DefaultAlignment)
	keys := map[string]bool{}
	for i := uint64(0); i < nkv && h.err == nil; i++ {
		if i&1023 == 0 && st.timeUp("", h.pos) {
			h.fail("metadata not read in time")
		}
		key := h.str(fmt.Sprintf("metadata key #%d", i), 1<<16)
		switch {
		case h.err == nil && key == "":
			h.fail("metadata key #%d is empty or longer than 64 KiB", i)
		case keys[key]:
			h.fail("duplicate metadata key %q", key)
		}
		keys[key] = true
		t := h.u32("metadata type")
		if key != "general.alignment" {
			h.value(t, fmt.Sprintf("metadata %q", key), 0)
			continue
		}
		if t != 4 {
			h.fail("general.alignment has type %d, want uint32 (4)", t)
		}
		align = uint64(h.u32("general.alignment"))
		if h.err == nil && (align == 0 || align&(align-1) != 0) {
			h.fail("general.alignment %d is not a power of two", align)
		}
	}
	return align
}

func (h *ggufHeader) tensor(i uint64) ggufTensor {
	t := ggufTensor{name: h.str(fmt.Sprintf("tensor #%d name", i), ggufMaxName)}
	if h.err == nil && t.name == "" {
		h.fail("tensor #%d name is empty or %d bytes or longer", i, ggufMaxName)
	}
	nd := h.u32("dimension count")
	if h.err == nil && (nd == 0 || nd > 4) {
		h.fail("tensor %q has %d dimensions (want 1..4)", t.name, nd)
	}
	for d := uint32(0); d < nd && h.err == nil; d++ {
		t.dims = append(t.dims, h.u64("dimension"))
	}
	t.typ = h.u32("tensor type")
	t.offset = h.u64("tensor offset")
	return t
}

func ggufCheckTensors(tensors []ggufTensor, data, size, align uint64) ([]span, error) {
	if len(tensors) > 0 && data > size {
		return nil, fmt.Errorf("data section would start at %d, past the end of the file (%d bytes)", data, size)
	}
	avail := size - min(data, size)
	names := map[string]bool{}
	spans := make([]span, 0, len(tensors))
	for _, t := range tensors {
		if names[t.name] {
			return nil, fmt.Errorf("duplicate tensor name %q", t.name)
		}
		names[t.name] = true
		elems := uint64(1)
		for _, d := range t.dims {
			hi, lo := bits.Mul64(elems, d)
			if d > maxGGUFDim || hi != 0 || lo > math.MaxInt64 {
				return nil, fmt.Errorf("tensor %q dimensions %v are too large", t.name, t.dims)
			}
			elems = lo
		}
		n, err := gguf.TensorSize(gguf.TensorType(t.typ), t.dims)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %v", t.name, err)
		}
		if t.offset%align != 0 {
			return nil, fmt.Errorf("tensor %q offset %d is not a multiple of the alignment %d", t.name, t.offset, align)
		}
		if t.offset > avail || uint64(n) > avail-t.offset {
			return nil, fmt.Errorf("tensor %q (offset %d, %d bytes) extends past the end of the file (data section holds %d bytes)", t.name, t.offset, n, avail)
		}
		spans = append(spans, span{t.name, data + t.offset, data + t.offset + uint64(n)})
	}
	return spans, nil
}
