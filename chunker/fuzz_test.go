package chunker

import (
	"bytes"
	"testing"
)

// checkPlan asserts that a plan covers [0, size) exactly with chunks of at
// most MaxBlockSize, and that every tensor starts a chunk.
func checkPlan(t *testing.T, bounds []int64, size int64, tensors []tensorRange, header int64) {
	t.Helper()
	var prev int64
	for i, b := range bounds {
		if b <= prev || b-prev > MaxBlockSize {
			t.Fatalf("chunk %d = [%d, %d): empty, backwards or above %d", i, prev, b, MaxBlockSize)
		}
		prev = b
	}
	if size > 0 && prev != size {
		t.Fatalf("plan ends at %d, file size %d", prev, size)
	}
	starts := append([]int64{0}, bounds...)
	if header < size && !contains(starts, header) {
		t.Fatalf("no chunk starts at the data section %d", header)
	}
	for _, tr := range tensors {
		if tr.begin < tr.end && !contains(starts, tr.begin) {
			t.Fatalf("tensor %q at %d does not start a chunk", tr.name, tr.begin)
		}
	}
}

func FuzzSafetensorsHeader(f *testing.F) {
	f.Add(buildSafetensors(f, modelTensors(1, 3, 3), map[string]string{"format": "pt"}))
	f.Add(buildSafetensors(f, nil, nil))
	f.Add([]byte("\x10\x00\x00\x00\x00\x00\x00\x00{}              "))
	f.Add([]byte("\x30\x00\x00\x00\x00\x00\x00\x00{\"a\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}x"))
	f.Fuzz(func(t *testing.T, file []byte) {
		size := int64(len(file))
		info, err := parseSafetensors(bytes.NewReader(file), size)
		if err != nil {
			return
		}
		for _, tr := range info.tensors {
			if tr.begin < info.header || tr.end > size || tr.begin > tr.end {
				t.Fatalf("tensor %q = [%d, %d) outside the data section [%d, %d)", tr.name, tr.begin, tr.end, info.header, size)
			}
		}
		checkPlan(t, info.plan(size, 7), size, info.tensors, info.header)
		checkPlan(t, info.plan(size, MaxBlockSize), size, info.tensors, info.header)
	})
}

func FuzzGGUFHeader(f *testing.F) {
	f.Add(buildGGUF(f, ggufModel(1, 3), 32, 0))
	f.Add(buildGGUF(f, ggufModel(2, 1), 64, 2))
	f.Add(buildGGUF(f, nil, 32, 0))
	f.Fuzz(func(t *testing.T, file []byte) {
		size := int64(len(file))
		info, err := parseGGUF(bytes.NewReader(file), size)
		if err != nil {
			return
		}
		if info.dataStart > size {
			t.Fatalf("data section at %d past the end %d", info.dataStart, size)
		}
		var prev int64
		for _, tr := range info.tensors {
			if tr.begin < info.dataStart || tr.end > size || tr.begin > tr.end || tr.begin < prev {
				t.Fatalf("tensor %q = [%d, %d) out of place (data %d, size %d, previous end %d)", tr.name, tr.begin, tr.end, info.dataStart, size, prev)
			}
			prev = tr.end
		}
		checkPlan(t, info.plan(size, 5), size, info.tensors, info.dataStart)
		checkPlan(t, info.plan(size, MaxBlockSize), size, info.tensors, info.dataStart)
	})
}

func FuzzCDC(f *testing.F) {
	f.Add([]byte("hello"), uint16(0), uint8(0))
	f.Add(randBytes(1, 20000), uint16(3000), uint8(1))
	f.Add(make([]byte, 70000), uint16(65535), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, split uint16, cfg uint8) {
		// Small sizes so that short inputs hold many chunks.
		sizes := [][3]int{{64, 256, 1024}, {0, 256, 300}, {16, 1024, 4096}, {1 << 10, 4 << 10, 8 << 10}}[cfg%4]
		c := newFastCDC(sizes[0], sizes[1], sizes[2])
		whole := cdcLengths(data, c)
		total := 0
		for i, n := range whole {
			if n <= 0 || n > sizes[2] || (n < sizes[0] && i != len(whole)-1) {
				t.Fatalf("chunk %d is %d bytes, outside [%d, %d]", i, n, sizes[0], sizes[2])
			}
			total += n
		}
		if total != len(data) {
			t.Fatalf("chunks cover %d bytes, input %d", total, len(data))
		}
		// Fed in two pieces, as the importer does across batches, the
		// boundaries are the same.
		cut := int(split) % (len(data) + 1)
		var got []int
		off := 0
		for off < len(data) {
			avail := data[off:]
			final := true
			if off < cut && cut-off < len(avail) {
				avail, final = data[off:cut], false
			}
			n := c.cut(int64(off), avail, final)
			if n == 0 {
				if final {
					t.Fatalf("cut at %d with final data returned 0", off)
				}
				cut = len(data) // more data: give it the rest
				continue
			}
			got = append(got, n)
			off += n
		}
		if len(got) != len(whole) {
			t.Fatalf("split at %d: %d chunks, whole %d", cut, len(got), len(whole))
		}
		for i := range got {
			if got[i] != whole[i] {
				t.Fatalf("split at %d: chunk %d is %d bytes, whole %d", cut, i, got[i], whole[i])
			}
		}
	})
}
