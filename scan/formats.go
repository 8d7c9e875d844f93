package scan

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"
	"unicode/utf8"
)

// span is a byte range [begin, end) some named tensor occupies.
type span struct {
	name       string
	begin, end uint64
}

// checkSpans sorts spans and reports overlaps, and (when contiguous) gaps
// and bytes after the last one, through bad.
func checkSpans(spans []span, dataLen uint64, contiguous bool, bad func(off uint64, format string, args ...any)) {
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].begin != spans[j].begin {
			return spans[i].begin < spans[j].begin
		}
		return spans[i].end < spans[j].end
	})
	var prev span
	for i, s := range spans {
		switch {
		case i > 0 && s.begin < prev.end:
			bad(s.begin, "tensor %q [%d, %d) overlaps tensor %q [%d, %d)", s.name, s.begin, s.end, prev.name, prev.begin, prev.end)
		case contiguous && s.begin > prev.end:
			bad(prev.end, "%d bytes before tensor %q belong to no tensor", s.begin-prev.end, s.name)
		}
		if s.end > prev.end || i == 0 {
			prev = s
		}
	}
	if contiguous && prev.end < dataLen {
		bad(prev.end, "%d bytes after the last tensor belong to no tensor", dataLen-prev.end)
	}
}

// safetensorsBits is the size in bits of each safetensors dtype.
var safetensorsBits = map[string]uint64{"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
	"F8_E8M0": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
	"I64": 64, "U64": 64, "F64": 64, "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}

type safetensorsInfo struct {
	Dtype       string   `json:"dtype"`
	Shape       []uint64 `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

// safetensors validates a safetensors header the way the safetensors
// library does before it hands out any tensor: an 8-byte little-endian
// header length within the file, a JSON object of tensors (and an optional
// __metadata__ map of strings), every tensor's byte span inside the data
// area, matching its dtype and shape, and the spans tiling the data area
// with no overlap, gap or trailing bytes.
func (st *state) safetensors(r io.ReaderAt, size int64, member string) {
	bad := func(off uint64, format string, args ...any) {
		st.find(Finding{Kind: KindHeader, Verdict: Unsafe, Member: member, Offset: int64(min(off, math.MaxInt64)),
			Reason: "safetensors: " + fmt.Sprintf(format, args...)})
	}
	var lb [8]byte
	if _, err := r.ReadAt(lb[:], 0); err != nil {
		bad(0, "file shorter than the 8-byte header length")
		return
	}
	n := binary.LittleEndian.Uint64(lb[:])
	switch {
	case n > uint64(st.lim.MaxHeader):
		bad(0, "header length %d exceeds the limit of %d bytes", n, st.lim.MaxHeader)
		return
	case n > uint64(size-8):
		bad(0, "header length %d exceeds the %d bytes after it", n, size-8)
		return
	}
	hdr := make([]byte, n)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		bad(8, "reading header: %v", err)
		return
	}
	tensors, err := parseSafetensorsHeader(hdr)
	if err != nil {
		bad(8, "%v", err)
		return
	}
	if len(tensors) > st.lim.MaxTensors {
		bad(8, "%d tensors, more than the limit of %d", len(tensors), st.lim.MaxTensors)
		return
	}
	dataLen := uint64(size) - 8 - n
	spans := make([]span, 0, len(tensors))
	for _, t := range tensors {
		if err := t.check(dataLen); err != nil {
			bad(8, "tensor %q: %v", t.name, err)
			continue
		}
		spans = append(spans, span{t.name, t.DataOffsets[0], t.DataOffsets[1]})
	}
	checkSpans(spans, dataLen, true, func(off uint64, format string, args ...any) { bad(8+n+off, format, args...) })
}

type namedTensor struct {
	name string
	safetensorsInfo
}

func (t *namedTensor) check(dataLen uint64) error {
	b, ok := safetensorsBits[t.Dtype]
	if !ok {
		return fmt.Errorf("unknown dtype %q", t.Dtype)
	}
	if len(t.DataOffsets) != 2 {
		return fmt.Errorf("data_offsets has %d values, want 2", len(t.DataOffsets))
	}
	begin, end := t.DataOffsets[0], t.DataOffsets[1]
	if begin > end || end > dataLen {
		return fmt.Errorf("data_offsets [%d, %d] outside the data area of %d bytes", begin, end, dataLen)
	}
	nbits := b
	for _, d := range t.Shape {
		hi, lo := bits.Mul64(nbits, d)
		if hi != 0 {
			return fmt.Errorf("shape %v overflows", t.Shape)
		}
		nbits = lo
	}
	if nbits%8 != 0 {
		return fmt.Errorf("shape %v of %s is not a whole number of bytes", t.Shape, t.Dtype)
	}
	if nbits/8 != end-begin {
		return fmt.Errorf("%s %v needs %d bytes, data_offsets span %d", t.Dtype, t.Shape, nbits/8, end-begin)
	}
	return nil
}

// parseSafetensorsHeader decodes the JSON header, rejecting duplicate
// names, non-string metadata and anything after the object but spaces.
func parseSafetensorsHeader(hdr []byte) ([]namedTensor, error) {
	if !utf8.Valid(hdr) {
		return nil, fmt.Errorf("header is not UTF-8")
	}
	if len(hdr) == 0 || hdr[0] != '{' {
		return nil, fmt.Errorf("header does not start with '{'")
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("header is not JSON: %v", err)
	}
	var out []namedTensor
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("header is not JSON: %v", err)
		}
		name, _ := tok.(string)
		if seen[name] {
			return nil, fmt.Errorf("tensor %q appears twice", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			var meta map[string]string
			if err := dec.Decode(&meta); err != nil {
				return nil, fmt.Errorf("__metadata__ is not a map of strings: %v", err)
			}
			continue
		}
		t := namedTensor{name: name}
		if err := dec.Decode(&t.safetensorsInfo); err != nil {
			return nil, fmt.Errorf("tensor %q: %v", name, err)
		}
		if t.Dtype == "" || t.Shape == nil || t.DataOffsets == nil {
			return nil, fmt.Errorf("tensor %q lacks dtype, shape or data_offsets", name)
		}
		out = append(out, t)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("header is not JSON: %v", err)
	}
	if rest := hdr[dec.InputOffset():]; len(bytes.TrimRight(rest, " \t\r\n")) != 0 {
		return nil, fmt.Errorf("%d bytes after the JSON object", len(rest))
	}
	return out, nil
}

// npy walks the pickle inside a .npy file of an object dtype (numpy.load
// with allow_pickle=True unpickles it); other dtypes hold raw numbers.
func (st *state) npy(r io.Reader, member string, depth int) {
	br := bufio.NewReader(r)
	var pre [10]byte
	if _, err := io.ReadFull(br, pre[:]); err != nil {
		return
	}
	hlen := uint64(binary.LittleEndian.Uint16(pre[8:]))
	if pre[6] >= 2 {
		var ext [2]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return
		}
		hlen = uint64(binary.LittleEndian.Uint32(append(pre[8:10:10], ext[:]...)))
	}
	if hlen > 1<<20 {
		st.find(Finding{Kind: KindHeader, Verdict: Unknown, Member: member, Reason: fmt.Sprintf("npy header of %d bytes", hlen)})
		return
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return
	}
	if !bytes.Contains(hdr, []byte("|O")) {
		return
	}
	st.pickles(br, member, depth, false)
}
