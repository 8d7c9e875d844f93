package scan

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// join names a member inside the stream member ("!" separates zip levels).
func join(member, name string) string {
	if member == "" {
		return name
	}
	return member + "!" + name
}

// zip scans a zip archive: first every *.pkl member (PyTorch keeps its
// pickle in <dir>/data.pkl, TorchScript adds constants.pkl), then every
// other member that is not a storage record those pickles refer to, as a
// pickle if it parses as one, or as a nested zip.
func (st *state) zip(r io.ReaderAt, size int64, member string, depth int) Format {
	if n, ok := zipEntryCount(r, size); ok && n > uint64(st.lim.MaxMembers) {
		st.find(Finding{Kind: KindLimit, Verdict: Unsafe, Member: member,
			Reason: fmt.Sprintf("zip has %d members, more than %d", n, st.lim.MaxMembers)})
		return FormatZip
	}
	zr, err := zip.NewReader(r, size)
	switch {
	case errors.Is(err, zip.ErrInsecurePath):
		st.find(Finding{Kind: KindContainer, Verdict: Unknown, Member: member,
			Reason: "a member path is absolute or leaves the archive"})
	case err != nil:
		st.find(Finding{Kind: KindContainer, Verdict: Unsafe, Member: member,
			Reason: "zip cannot be read: " + err.Error()})
		return FormatZip
	}
	if len(zr.File) > st.lim.MaxMembers {
		st.find(Finding{Kind: KindLimit, Verdict: Unsafe, Member: member,
			Reason: fmt.Sprintf("zip has %d members, more than %d", len(zr.File), st.lim.MaxMembers)})
		return FormatZip
	}
	format := FormatZip
	storages := map[string]bool{}
	seen := map[string]bool{}
	for _, f := range zr.File {
		if seen[f.Name] {
			st.find(Finding{Kind: KindContainer, Verdict: Unsafe, Member: join(member, f.Name),
				Reason: "two members have this name; loaders may read either"})
		}
		seen[f.Name] = true
		if !strings.HasSuffix(strings.ToLower(f.Name), ".pkl") || f.FileInfo().IsDir() {
			continue
		}
		if path.Base(f.Name) == "data.pkl" {
			format = FormatTorchZip
		}
		for _, k := range st.zipPickle(r, f, member, depth) {
			storages[path.Join(path.Dir(f.Name), "data", k)] = true
		}
	}
	torchScript := false
	for _, f := range zr.File {
		if st.timeUp(member, 0) {
			return format
		}
		name := f.Name
		if storages[name] || f.FileInfo().IsDir() || strings.HasSuffix(strings.ToLower(name), ".pkl") {
			continue
		}
		if !torchScript && path.Ext(name) == ".py" && strings.Contains("/"+name, "/code/") {
			torchScript = true
			st.find(Finding{Kind: KindUnscanned, Verdict: Unknown, Member: join(member, name),
				Reason: "TorchScript code, run by torch.jit.load, is not checked"})
		}
		st.zipOther(r, f, member, depth)
	}
	return format
}

// zipPickle walks a *.pkl member and returns the storage keys it refers to.
func (st *state) zipPickle(r io.ReaderAt, f *zip.File, member string, depth int) []string {
	rd, err := st.open(r, f, member)
	if err != nil {
		return nil
	}
	defer rd.Close()
	br := bufio.NewReader(rd)
	if head, _ := br.Peek(4); string(head) == "PK\x03\x04" {
		st.nestedZip(r, f, join(member, f.Name), depth)
		return nil
	}
	w, _ := st.pickles(br, join(member, f.Name), depth, false)
	return w.storages
}

// zipOther sniffs a member that is not a *.pkl: a nested zip, or a pickle
// under an odd name.
func (st *state) zipOther(r io.ReaderAt, f *zip.File, member string, depth int) {
	rd, err := st.open(r, f, member)
	if err != nil {
		return
	}
	var head [4]byte
	n, _ := io.ReadFull(rd, head[:])
	rd.Close()
	where := join(member, f.Name)
	if n == 4 && string(head[:]) == "PK\x03\x04" {
		st.nestedZip(r, f, where, depth)
		return
	}
	if n == 0 || (opTable[head[0]] == nil && string(head[:]) != "\x93NUM") {
		return // neither a pickle nor a .npy: its first byte is no opcode
	}
	if rd, err = st.open(r, f, member); err != nil {
		return
	}
	defer rd.Close()
	if n == 4 && string(head[:]) == "\x93NUM" {
		st.npy(rd, where, depth)
		return
	}
	st.pickles(rd, where, depth, true)
}

// nestedZip scans a zip stored inside a zip, up to MaxDepth levels.
func (st *state) nestedZip(r io.ReaderAt, f *zip.File, where string, depth int) {
	if depth+1 > st.lim.MaxDepth {
		st.find(Finding{Kind: KindLimit, Verdict: Unknown, Member: where,
			Reason: fmt.Sprintf("zips nested deeper than %d; not scanned", st.lim.MaxDepth)})
		return
	}
	if f.Method == zip.Store {
		off, err := f.DataOffset()
		if err == nil && off >= 0 && f.CompressedSize64 <= uint64(1<<62) {
			st.zip(io.NewSectionReader(r, off, int64(f.CompressedSize64)), int64(f.CompressedSize64), where, depth+1)
			return
		}
	}
	if f.UncompressedSize64 > uint64(st.lim.MaxNested) {
		st.find(Finding{Kind: KindLimit, Verdict: Unknown, Member: where,
			Reason: fmt.Sprintf("compressed nested zip of %d bytes, more than %d; not scanned", f.UncompressedSize64, st.lim.MaxNested)})
		return
	}
	rc, err := f.Open()
	if err != nil {
		return
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, st.lim.MaxNested+1))
	if err != nil || int64(len(b)) > st.lim.MaxNested {
		st.find(Finding{Kind: KindContainer, Verdict: Unknown, Member: where, Reason: "nested zip cannot be read"})
		return
	}
	st.zip(bytes.NewReader(b), int64(len(b)), where, depth+1)
}

// open returns a stream of a member's bytes; stored members are read in
// place.
func (st *state) open(r io.ReaderAt, f *zip.File, member string) (io.ReadCloser, error) {
	if f.Method == zip.Store {
		if off, err := f.DataOffset(); err == nil && f.CompressedSize64 <= uint64(1<<62) {
			return io.NopCloser(io.NewSectionReader(r, off, int64(f.CompressedSize64))), nil
		}
	}
	rc, err := f.Open()
	if err != nil {
		st.find(Finding{Kind: KindContainer, Verdict: Unknown, Member: join(member, f.Name),
			Reason: "member cannot be read: " + err.Error()})
		return nil, err
	}
	return rc, nil
}

// zipEntryCount reads the member count from the end of central directory
// record (or its zip64 form) without reading the directory itself.
func zipEntryCount(r io.ReaderAt, size int64) (uint64, bool) {
	const eocdLen, maxComment = 22, 65535
	n := min(size, eocdLen+maxComment)
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, size-n); err != nil && err != io.EOF {
		return 0, false
	}
	i := bytes.LastIndex(buf, []byte("PK\x05\x06"))
	if i < 0 || len(buf)-i < eocdLen {
		return 0, false
	}
	count := uint64(binary.LittleEndian.Uint16(buf[i+10:]))
	if count != 0xffff || i < 20 || string(buf[i-20:i-16]) != "PK\x06\x07" {
		return count, true
	}
	off := int64(binary.LittleEndian.Uint64(buf[i-20+8:]))
	var rec [40]byte
	if off < 0 || off > size-40 {
		return 0, false
	}
	if _, err := r.ReadAt(rec[:], off); err != nil || string(rec[:4]) != "PK\x06\x06" {
		return 0, false
	}
	return binary.LittleEndian.Uint64(rec[32:]), true
}
