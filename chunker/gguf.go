package chunker

import (
	"fmt"
	"io"
	"slices"

	"github.com/cairnhub/cairn/inference/gguf"
)

type ggufInfo struct {
	dataStart int64
	alignment int64
	tensors   []tensorRange
}

// parseGGUF reads and validates a GGUF (v2 or v3) header against the file
// size with gguf.ReadHeader (bounded memory: the vocabulary and other arrays
// are read past), then lays the tensors out in file order.
func parseGGUF(r io.ReaderAt, size int64) (*ggufInfo, error) {
	f, err := gguf.ReadHeader(io.NewSectionReader(r, 0, size), size)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w: %w", ErrFormat, err)
	}
	dataStart := min(f.DataOffset, size) // past the end only when there are no tensors
	info := &ggufInfo{dataStart: dataStart, alignment: int64(f.Alignment)}
	info.tensors, err = ggufRanges(f.Tensors, dataStart, size, f.Alignment)
	if err != nil {
		return nil, err
	}
	return info, nil
}

// ggufRanges returns the byte ranges of the tensors in file order: each
// tensor with the alignment padding after it, or, when its type (so its
// size) is unknown, everything up to the next tensor.
func ggufRanges(infos []gguf.TensorInfo, dataStart, size int64, alignment uint64) ([]tensorRange, error) {
	ts := slices.Clone(infos)
	slices.SortStableFunc(ts, func(a, b gguf.TensorInfo) int {
		switch {
		case a.Offset < b.Offset:
			return -1
		case a.Offset > b.Offset:
			return 1
		}
		return 0
	})
	dataLen := uint64(size - dataStart)
	out := make([]tensorRange, 0, len(ts))
	for i, t := range ts {
		next := dataLen
		if i+1 < len(ts) {
			next = ts[i+1].Offset
		}
		if t.Offset > dataLen {
			return nil, malformed("gguf", "tensor %q: offset %d past the data section of %d bytes", t.Name, t.Offset, dataLen)
		}
		end := next // unknown type: the region runs to the next tensor
		if t.Size >= 0 {
			if uint64(t.Size) > next-t.Offset {
				return nil, malformed("gguf", "tensor %q: %d bytes at offset %d overlap the next tensor or the end of the file (data section %d bytes)", t.Name, t.Size, t.Offset, dataLen)
			}
			// Alignment padding stays with the tensor it follows.
			end = min((t.Offset+uint64(t.Size)+alignment-1)/alignment*alignment, next)
		}
		out = append(out, tensorRange{name: t.Name, begin: dataStart + int64(t.Offset), end: dataStart + int64(end)})
	}
	return out, nil
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
