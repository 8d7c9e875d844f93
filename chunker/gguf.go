package chunker

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"slices"
)

// ggufTypes maps a ggml tensor type id to (elements per block, bytes per
// block). Facts from the ggml type table.
var ggufTypes = map[uint32][2]uint64{
	0: {1, 4}, 1: {1, 2}, 2: {32, 18}, 3: {32, 20}, 6: {32, 22}, 7: {32, 24},
	8: {32, 34}, 9: {32, 36}, 10: {256, 84}, 11: {256, 110}, 12: {256, 144},
	13: {256, 176}, 14: {256, 210}, 15: {256, 292}, 16: {256, 66}, 17: {256, 74},
	18: {256, 98}, 19: {256, 50}, 20: {32, 18}, 21: {256, 110}, 22: {256, 82},
	23: {256, 136}, 24: {1, 1}, 25: {1, 2}, 26: {1, 4}, 27: {1, 8}, 28: {1, 8},
	29: {256, 56}, 30: {1, 2}, 34: {256, 54}, 35: {256, 66}, 39: {32, 17},
}

// GGUF metadata value types.
const (
	ggufU8 = iota
	ggufI8
	ggufU16
	ggufI16
	ggufU32
	ggufI32
	ggufF32
	ggufBool
	ggufString
	ggufArray
	ggufU64
	ggufI64
	ggufF64
)

var ggufScalarSize = map[uint32]uint64{
	ggufU8: 1, ggufI8: 1, ggufBool: 1, ggufU16: 2, ggufI16: 2,
	ggufU32: 4, ggufI32: 4, ggufF32: 4, ggufU64: 8, ggufI64: 8, ggufF64: 8,
}

const (
	ggufMaxDims       = 4
	ggufMaxArrayDepth = 4
	ggufMaxName       = 1 << 16
)

type ggufInfo struct {
	dataStart int64
	alignment int64
	tensors   []tensorRange
}

// ggufReader reads the header sequentially, tracking the position and
// refusing any length that runs past the end of the file.
type ggufReader struct {
	br   *bufio.Reader
	pos  int64
	size int64
	err  error
}

func (g *ggufReader) fail(detail string, args ...any) {
	if g.err == nil {
		g.err = malformed("gguf", "at byte %d: %s", g.pos, fmt.Sprintf(detail, args...))
	}
}

func (g *ggufReader) need(n uint64, what string) bool {
	if g.err != nil {
		return false
	}
	if n > uint64(g.size-g.pos) {
		g.fail("%s of %d bytes runs past the end of the file (%d bytes)", what, n, g.size)
		return false
	}
	return true
}

func (g *ggufReader) bytes(n int, what string) []byte {
	if !g.need(uint64(n), what) {
		return nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(g.br, b); err != nil {
		g.err = fmt.Errorf("gguf: read %s: %w", what, err)
		return nil
	}
	g.pos += int64(n)
	return b
}

func (g *ggufReader) skip(n uint64, what string) {
	if !g.need(n, what) {
		return
	}
	if _, err := g.br.Discard(int(n)); err != nil {
		g.err = fmt.Errorf("gguf: read %s: %w", what, err)
		return
	}
	g.pos += int64(n)
}

func (g *ggufReader) u32(what string) uint32 {
	b := g.bytes(4, what)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func (g *ggufReader) u64(what string) uint64 {
	b := g.bytes(8, what)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// str reads a string; it keeps at most keep bytes and skips the rest.
func (g *ggufReader) str(what string, keep uint64) string {
	n := g.u64(what + " length")
	if !g.need(n, what) {
		return ""
	}
	if n <= keep {
		return string(g.bytes(int(n), what))
	}
	g.skip(n, what)
	return ""
}

func (g *ggufReader) value(typ uint32, depth int, what string) (u64 uint64, isUint bool) {
	if sz, ok := ggufScalarSize[typ]; ok {
		switch typ {
		case ggufU32:
			return uint64(g.u32(what)), true
		case ggufU64:
			return g.u64(what), true
		}
		g.skip(sz, what)
		return 0, false
	}
	switch typ {
	case ggufString:
		g.str(what, 0)
	case ggufArray:
		if depth >= ggufMaxArrayDepth {
			g.fail("%s: arrays nested deeper than %d", what, ggufMaxArrayDepth)
			return 0, false
		}
		et := g.u32(what + " element type")
		count := g.u64(what + " count")
		if g.err != nil {
			return 0, false
		}
		if sz, ok := ggufScalarSize[et]; ok {
			hi, total := bits.Mul64(sz, count)
			if hi != 0 {
				g.fail("%s: array of %d elements overflows", what, count)
				return 0, false
			}
			g.skip(total, what)
			return 0, false
		}
		if et != ggufString && et != ggufArray {
			g.fail("%s: unknown array element type %d", what, et)
			return 0, false
		}
		// Every string or array element takes at least 8 bytes.
		if hi, lo := bits.Mul64(count, 8); hi != 0 || !g.need(lo, what) {
			g.fail("%s: array of %d elements runs past the end of the file", what, count)
			return 0, false
		}
		for i := uint64(0); i < count && g.err == nil; i++ {
			g.value(et, depth+1, what)
		}
	default:
		g.fail("%s: unknown value type %d", what, typ)
	}
	return 0, false
}

// parseGGUF reads and validates a GGUF (v2 or v3) header against the file
// size. It allocates nothing in proportion to a count it has not checked.
func parseGGUF(r io.ReaderAt, size int64) (*ggufInfo, error) {
	g := &ggufReader{br: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 256<<10), size: size}
	magic := g.bytes(4, "magic")
	if g.err != nil {
		return nil, g.err
	}
	if string(magic) != "GGUF" {
		return nil, malformed("gguf", "bad magic %q", magic)
	}
	version := g.u32("version")
	if g.err == nil && version != 2 && version != 3 {
		return nil, malformed("gguf", "unsupported version %d (want 2 or 3)", version)
	}
	nTensors := g.u64("tensor count")
	nKV := g.u64("metadata count")
	if g.err != nil {
		return nil, g.err
	}
	// A key-value pair takes at least 13 bytes, a tensor info at least 24.
	rest := uint64(size - g.pos)
	if nKV > rest/13 {
		return nil, malformed("gguf", "metadata count %d cannot fit in a file of %d bytes", nKV, size)
	}
	if nTensors > rest/24 {
		return nil, malformed("gguf", "tensor count %d cannot fit in a file of %d bytes", nTensors, size)
	}
	alignment := uint64(32)
	for i := uint64(0); i < nKV && g.err == nil; i++ {
		key := g.str(fmt.Sprintf("metadata key %d", i), 256)
		typ := g.u32(fmt.Sprintf("metadata %q type", key))
		v, isUint := g.value(typ, 0, fmt.Sprintf("metadata %q", key))
		if key == "general.alignment" && g.err == nil {
			if !isUint || v == 0 || v&(v-1) != 0 || v > 1<<30 {
				g.fail("general.alignment must be an unsigned power of two, got type %d value %d", typ, v)
			}
			alignment = v
		}
	}
	if g.err != nil {
		return nil, g.err
	}
	type tinfo struct {
		name   string
		off    uint64
		nbytes uint64
		known  bool
	}
	infos := make([]tinfo, 0, nTensors)
	for i := uint64(0); i < nTensors && g.err == nil; i++ {
		what := fmt.Sprintf("tensor %d", i)
		name := g.str(what+" name", ggufMaxName)
		nd := g.u32(what + " dimension count")
		if g.err == nil && (nd == 0 || nd > ggufMaxDims) {
			g.fail("%s %q: %d dimensions (want 1..%d)", what, name, nd, ggufMaxDims)
		}
		var dims [ggufMaxDims]uint64
		for d := uint32(0); d < nd && g.err == nil; d++ {
			dims[d] = g.u64(what + " dimension")
		}
		typ := g.u32(what + " type")
		off := g.u64(what + " offset")
		if g.err != nil {
			break
		}
		t := tinfo{name: name, off: off}
		if tr, ok := ggufTypes[typ]; ok {
			t.known = true
			if dims[0]%tr[0] != 0 {
				g.fail("%s %q: row length %d is not a multiple of the block size %d", what, name, dims[0], tr[0])
				break
			}
			n := dims[0] / tr[0] * tr[1]
			for d := uint32(1); d < nd; d++ {
				hi, lo := bits.Mul64(n, dims[d])
				if hi != 0 || lo > uint64(size) {
					g.fail("%s %q: size overflows the file", what, name)
					break
				}
				n = lo
			}
			t.nbytes = n
		}
		if off%alignment != 0 {
			g.fail("%s %q: offset %d is not a multiple of the alignment %d", what, name, off, alignment)
		}
		infos = append(infos, t)
	}
	if g.err != nil {
		return nil, g.err
	}
	dataStart := (uint64(g.pos) + alignment - 1) / alignment * alignment
	if dataStart > uint64(size) {
		if nTensors > 0 {
			return nil, malformed("gguf", "data section at %d starts past the end of the file (%d bytes)", dataStart, size)
		}
		dataStart = uint64(size)
	}
	dataLen := uint64(size) - dataStart
	slices.SortStableFunc(infos, func(a, b tinfo) int {
		switch {
		case a.off < b.off:
			return -1
		case a.off > b.off:
			return 1
		}
		return 0
	})
	info := &ggufInfo{dataStart: int64(dataStart), alignment: int64(alignment)}
	for i, t := range infos {
		next := dataLen
		if i+1 < len(infos) {
			next = infos[i+1].off
		}
		if t.off > dataLen {
			return nil, malformed("gguf", "tensor %q: offset %d past the data section of %d bytes", t.name, t.off, dataLen)
		}
		end := next // unknown type: the region runs to the next tensor
		if t.known {
			if t.nbytes > next-t.off {
				return nil, malformed("gguf", "tensor %q: %d bytes at offset %d overlap the next tensor or the end of the file (data section %d bytes)", t.name, t.nbytes, t.off, dataLen)
			}
			// Alignment padding stays with the tensor it follows.
			end = min((t.off+t.nbytes+alignment-1)/alignment*alignment, next)
		}
		info.tensors = append(info.tensors, tensorRange{name: t.name, begin: int64(dataStart + t.off), end: int64(dataStart + end)})
	}
	return info, nil
}

// plan returns the chunk ends of a GGUF file.
func (g *ggufInfo) plan(size int64, piece int) []int64 {
	b := &planBuilder{piece: int64(piece), bounds: make([]int64, 0, len(g.tensors)+int(size/int64(piece))+2)}
	b.segment(0, g.dataStart)
	for _, t := range g.tensors {
		b.segment(t.begin, t.end)
	}
	return b.finish(size)
}
