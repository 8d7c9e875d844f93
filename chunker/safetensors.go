package chunker

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"slices"
)

// maxSafetensorsHeader bounds the JSON header (the reference implementation
// refuses headers above 100 MB too).
const maxSafetensorsHeader = 100 << 20

// safetensors dtypes and their sizes in bits.
var safetensorsDtypes = map[string]uint64{
	"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "E8M0": 8,
	"I16": 16, "U16": 16, "F16": 16, "BF16": 16,
	"I32": 32, "U32": 32, "F32": 32,
	"I64": 64, "U64": 64, "F64": 64, "C64": 64,
	"F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}

// tensorRange is a tensor's byte range in the file.
type tensorRange struct {
	name       string
	begin, end int64
}

type safetensorsInfo struct {
	header  int64 // 8 + N: where the data section starts
	tensors []tensorRange
}

type stTensor struct {
	Dtype       string   `json:"dtype"`
	Shape       []uint64 `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

func malformed(format, detail string, args ...any) error {
	return fmt.Errorf("%s: %w: %s", format, ErrFormat, fmt.Sprintf(detail, args...))
}

// parseSafetensors reads and validates a safetensors header against the
// file size.
func parseSafetensors(r io.ReaderAt, size int64) (*safetensorsInfo, error) {
	const f = "safetensors"
	if size < 8 {
		return nil, malformed(f, "file of %d bytes is shorter than the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: read header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n < 2 || n > maxSafetensorsHeader || n > uint64(size-8) {
		return nil, malformed(f, "header length %d does not fit (file size %d, limit %d)", n, size, maxSafetensorsHeader)
	}
	hdr := make([]byte, n)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, fmt.Errorf("safetensors: read header: %w", err)
	}
	return parseSafetensorsHeader(hdr, size)
}

func parseSafetensorsHeader(hdr []byte, size int64) (*safetensorsInfo, error) {
	const f = "safetensors"
	dataStart := 8 + int64(len(hdr))
	dataLen := uint64(size - dataStart)
	// The spec allows trailing spaces as padding of the header.
	trimmed := bytes.TrimRight(hdr, " ")
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(&raw); err != nil {
		return nil, malformed(f, "header is not a JSON object: %v", err)
	}
	if dec.More() {
		return nil, malformed(f, "trailing data after the header JSON")
	}
	if raw == nil {
		return nil, malformed(f, "header is not a JSON object")
	}
	info := &safetensorsInfo{header: dataStart}
	for name, msg := range raw {
		if name == "__metadata__" {
			var meta map[string]string
			if err := json.Unmarshal(msg, &meta); err != nil {
				return nil, malformed(f, "__metadata__ is not a string map: %v", err)
			}
			continue
		}
		var t stTensor
		if err := json.Unmarshal(msg, &t); err != nil {
			return nil, malformed(f, "tensor %q: %v", name, err)
		}
		bitsPer, ok := safetensorsDtypes[t.Dtype]
		if !ok {
			return nil, malformed(f, "tensor %q: unknown dtype %q", name, t.Dtype)
		}
		if len(t.DataOffsets) != 2 {
			return nil, malformed(f, "tensor %q: data_offsets has %d numbers, want 2", name, len(t.DataOffsets))
		}
		b, e := t.DataOffsets[0], t.DataOffsets[1]
		if b > e || e > dataLen {
			return nil, malformed(f, "tensor %q: data_offsets [%d, %d] outside the data section of %d bytes", name, b, e, dataLen)
		}
		nbits := bitsPer
		for _, d := range t.Shape {
			hi, lo := bits.Mul64(nbits, d)
			if hi != 0 {
				return nil, malformed(f, "tensor %q: shape %v overflows", name, t.Shape)
			}
			nbits = lo
		}
		if nbits%8 != 0 || nbits/8 != e-b {
			return nil, malformed(f, "tensor %q: %s%v needs %d bits, data_offsets give %d bytes", name, t.Dtype, t.Shape, nbits, e-b)
		}
		info.tensors = append(info.tensors, tensorRange{name: name, begin: dataStart + int64(b), end: dataStart + int64(e)})
	}
	slices.SortFunc(info.tensors, func(a, b tensorRange) int {
		if a.begin != b.begin {
			if a.begin < b.begin {
				return -1
			}
			return 1
		}
		if a.end < b.end {
			return -1
		} else if a.end > b.end {
			return 1
		}
		return 0
	})
	for i := 1; i < len(info.tensors); i++ {
		p, t := info.tensors[i-1], info.tensors[i]
		if t.begin < p.end {
			return nil, malformed(f, "tensors %q and %q overlap", p.name, t.name)
		}
	}
	return info, nil
}

// plan returns the chunk ends of a safetensors file.
func (s *safetensorsInfo) plan(size int64, piece int) []int64 {
	b := &planBuilder{piece: int64(piece), bounds: make([]int64, 0, len(s.tensors)+int(size/int64(piece))+2)}
	b.segment(0, s.header)
	for _, t := range s.tensors {
		b.segment(t.begin, t.end)
	}
	return b.finish(size)
}
