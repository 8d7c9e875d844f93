package scan

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// Limits bound the memory and time a scan may take on hostile input. A zero
// field takes its default (given in its comment); Validate rejects negative
// values.
type Limits struct {
	// MaxStack is the most values the pickle stack may hold (default 1<<18).
	MaxStack int
	// MaxMemo is the most memo entries followed per pickle (default 1<<23,
	// 4 bytes each); past it, later entries are not followed, and names read
	// from them are unresolved (Unsafe).
	MaxMemo int
	// MaxString is the longest string literal or protocol-0 line read into
	// memory, to look in it for a nested pickle or zip (default 1 MiB);
	// longer ones are skipped.
	MaxString int
	// MaxRetained is the total bytes of name-sized strings (up to 4 KiB)
	// kept per scan to resolve STACK_GLOBAL names (default 64 MiB).
	MaxRetained int64
	// MaxPickleBytes is the most bytes walked per pickle stream (default 4 GiB).
	MaxPickleBytes int64
	// MaxMembers is the most zip members per archive (default 1<<16).
	MaxMembers int
	// MaxDepth is how deep zips and pickles may nest in one another (default 4).
	MaxDepth int
	// MaxNested is the largest compressed nested zip read into memory (default 64 MiB).
	MaxNested int64
	// MaxHeader is the largest safetensors JSON header (default 100 MB, the
	// safetensors library's own limit).
	MaxHeader int64
	// MaxTensors is the most tensors, and GGUF metadata entries, a header
	// may declare (default 1<<20).
	MaxTensors int
	// MaxFindings is the most findings listed per report (default 256).
	MaxFindings int
	// Timeout bounds one scan (default 5 minutes).
	Timeout time.Duration
}

// Validate reports a negative limit.
func (l Limits) Validate() error {
	ints := map[string]int64{"MaxStack": int64(l.MaxStack), "MaxMemo": int64(l.MaxMemo),
		"MaxString": int64(l.MaxString), "MaxRetained": l.MaxRetained, "MaxPickleBytes": l.MaxPickleBytes,
		"MaxMembers": int64(l.MaxMembers), "MaxDepth": int64(l.MaxDepth), "MaxNested": l.MaxNested,
		"MaxHeader": l.MaxHeader, "MaxTensors": int64(l.MaxTensors), "MaxFindings": int64(l.MaxFindings), "Timeout": int64(l.Timeout)}
	for k, v := range ints {
		if v < 0 {
			return fmt.Errorf("scan: limit %s is negative (%d)", k, v)
		}
	}
	return nil
}

func orDefault[T int | int64 | time.Duration](v, d T) T {
	if v == 0 {
		return d
	}
	return v
}

func (l Limits) withDefaults() Limits {
	l.MaxStack = orDefault(l.MaxStack, 1<<18)
	l.MaxMemo = orDefault(l.MaxMemo, 1<<23)
	l.MaxString = orDefault(l.MaxString, 1<<20)
	l.MaxRetained = orDefault(l.MaxRetained, 64<<20)
	l.MaxPickleBytes = orDefault(l.MaxPickleBytes, 4<<30)
	l.MaxMembers = orDefault(l.MaxMembers, 1<<16)
	l.MaxDepth = orDefault(l.MaxDepth, 4)
	l.MaxNested = orDefault(l.MaxNested, 64<<20)
	l.MaxHeader = orDefault(l.MaxHeader, 100_000_000)
	l.MaxTensors = orDefault(l.MaxTensors, 1<<20)
	l.MaxFindings = orDefault(l.MaxFindings, 256)
	l.Timeout = orDefault(l.Timeout, 5*time.Minute)
	return l
}

// Scanner scans files under its Limits. The zero Scanner uses the defaults.
type Scanner struct {
	Limits Limits
}

// File scans the file name (used for its extension only) held by r, size
// bytes long, with the default limits. See Scanner.File.
func File(ctx context.Context, name string, r io.ReaderAt, size int64) (Report, error) {
	return (&Scanner{}).File(ctx, name, r, size)
}

// Bytes scans an in-memory file with the default limits.
func Bytes(ctx context.Context, name string, b []byte) (Report, error) {
	return File(ctx, name, bytes.NewReader(b), int64(len(b)))
}

// File scans the file held by r. It recognises the format from the content
// (and, for pickles in protocols 0 and 1, from the name's extension), reads
// only what the checks need (pickle streams and headers, never tensor data)
// and returns a Report. The error is non-nil only when ctx ends first or the
// limits are invalid; everything about the content is in the Report.
func (s *Scanner) File(ctx context.Context, name string, r io.ReaderAt, size int64) (Report, error) {
	if err := s.Limits.Validate(); err != nil {
		return Report{}, err
	}
	lim := s.Limits.withDefaults()
	parent := ctx
	ctx, cancel := context.WithTimeout(parent, lim.Timeout)
	defer cancel()
	cr := &countingReaderAt{r: r}
	st := &state{ctx: ctx, lim: &lim, sink: newSink(&lim)}
	format := st.file(name, cr, size, "", 0)
	if err := parent.Err(); err != nil {
		return Report{}, fmt.Errorf("scan %s: %w", name, err)
	}
	return st.sink.report(format, cr.n), nil
}

// Pickle walks a raw pickle stream read once from r (for example while it is
// being stored) with the limits of s. Use File for anything that may be a
// zip, safetensors or GGUF file: those need random access, and a zip or GGUF
// stream is reported Unknown here. File on the stored bytes reads only the
// pickles and headers, so it costs little even after a streaming import.
func (s *Scanner) Pickle(ctx context.Context, r io.Reader) (Report, error) {
	if err := s.Limits.Validate(); err != nil {
		return Report{}, err
	}
	lim := s.Limits.withDefaults()
	parent := ctx
	ctx, cancel := context.WithTimeout(parent, lim.Timeout)
	defer cancel()
	cr := &countingReader{r: r}
	st := &state{ctx: ctx, lim: &lim, sink: newSink(&lim)}
	br := bufio.NewReader(cr)
	format := FormatPickle
	if head, _ := br.Peek(4); string(head) == "PK\x03\x04" || string(head) == "GGUF" {
		// A zip's directory is at its end and a GGUF header needs the size:
		// neither can be checked from a stream.
		format = FormatZip
		if string(head) == "GGUF" {
			format = FormatGGUF
		}
		st.find(Finding{Kind: KindUnscanned, Verdict: Unknown,
			Reason: string(format) + " file needs random access; scan it with File"})
	} else {
		st.pickles(br, "", 0, false)
	}
	if err := parent.Err(); err != nil {
		return Report{}, fmt.Errorf("scan pickle: %w", err)
	}
	return st.sink.report(format, cr.n), nil
}

// state is one scan in progress.
type state struct {
	ctx      context.Context
	lim      *Limits
	sink     *sink
	retained int64
}

func (st *state) find(f Finding) { st.sink.add(f) }

// ctxErr records a limit finding when the scan's time is up and reports
// whether it is.
func (st *state) timeUp(member string, off int64) bool {
	if st.ctx.Err() == nil {
		return false
	}
	st.find(Finding{Kind: KindLimit, Verdict: Unsafe, Member: member, Offset: off,
		Reason: "scan did not finish in time: " + context.Cause(st.ctx).Error()})
	return true
}

var pickleExts = map[string]bool{".pkl": true, ".pickle": true, ".joblib": true, ".bin": true,
	".pt": true, ".pth": true, ".ckpt": true, ".dat": true, ".data": true}

// pickleName reports whether name has an extension pickle loaders use.
func pickleName(name string) bool {
	return pickleExts[strings.ToLower(path.Ext(name))]
}

// file scans one file or zip member held by r; member locates it in findings.
func (st *state) file(name string, r io.ReaderAt, size int64, member string, depth int) Format {
	if size == 0 {
		return FormatEmpty
	}
	var head [512]byte
	n, _ := r.ReadAt(head[:], 0)
	h := head[:n]
	lower := strings.ToLower(name)
	var f Format
	switch {
	case bytes.HasPrefix(h, []byte("PK\x03\x04")) || bytes.HasPrefix(h, []byte("PK\x05\x06")):
		// torch.load reads a file that starts like a zip as a zip.
		return st.zip(r, size, member, depth)
	case bytes.HasPrefix(h, []byte("GGUF")) || strings.HasSuffix(lower, ".gguf"):
		st.gguf(r, size, member)
		f = FormatGGUF
	case looksSafetensors(h, size) || strings.HasSuffix(lower, ".safetensors"):
		st.safetensors(r, size, member)
		f = FormatSafetensors
	case bytes.HasPrefix(h, []byte("\x93NUMPY")):
		st.npy(io.NewSectionReader(r, 0, size), member, depth)
		f = FormatNumpy
	case len(h) >= 262 && string(h[257:262]) == "ustar":
		if pickleName(name) {
			st.find(Finding{Kind: KindUnscanned, Verdict: Unknown, Member: member,
				Reason: "tar archive (legacy torch.save format) is not scanned"})
		}
		f = FormatTar
	case compression(h) != "" && (pickleName(name) || pickleName(strings.TrimSuffix(lower, path.Ext(lower)))):
		st.compressed(r, size, compression(h), member, depth)
		return FormatPickle
	case looksPickle(h) || pickleName(name):
		if _, ok := st.pickles(io.NewSectionReader(r, 0, size), member, depth, false); !ok {
			return FormatOther
		}
		return FormatPickle
	default:
		return FormatOther
	}
	// pickle.load on a file with a pickle's name would unpickle it whatever
	// else it is: walk it too, as a stream that may not be a pickle.
	if pickleName(name) || looksPickle(h) {
		st.pickles(io.NewSectionReader(r, 0, size), member, depth, true)
	}
	return f
}

// looksPickle reports whether b starts with a PROTO opcode of a known protocol.
func looksPickle(b []byte) bool {
	return len(b) >= 3 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5
}

// looksSafetensors reports whether h starts like a safetensors file: an
// 8-byte header length within the file, then a JSON object.
func looksSafetensors(h []byte, size int64) bool {
	if len(h) < 9 {
		return false
	}
	n := binary.LittleEndian.Uint64(h)
	return n >= 2 && n <= uint64(size-8) && h[8] == '{'
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r io.ReaderAt
	n int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// compression names the compressor whose magic h starts with: those that
// pickle.load(gzip.open(...)) and joblib.dump(compress=...) users write.
func compression(h []byte) string {
	switch {
	case bytes.HasPrefix(h, []byte{0x1f, 0x8b}):
		return "gzip"
	case len(h) >= 2 && h[0] == 0x78 && (uint16(h[0])<<8|uint16(h[1]))%31 == 0:
		return "zlib"
	case bytes.HasPrefix(h, []byte("BZh")):
		return "bzip2"
	case bytes.HasPrefix(h, []byte("\xfd7zXZ\x00")):
		return "xz"
	case bytes.HasPrefix(h, []byte{0x5d, 0x00, 0x00}):
		return "lzma"
	case bytes.HasPrefix(h, []byte{0x04, 0x22, 0x4d, 0x18}):
		return "lz4"
	}
	return ""
}

// compressed walks the pickle inside a compressed file; Member names the
// compressor, offsets are in the decompressed stream.
func (st *state) compressed(r io.ReaderAt, size int64, kind, member string, depth int) {
	src := io.NewSectionReader(r, 0, size)
	where := join(member, "["+kind+"]")
	var rd io.Reader
	var err error
	switch kind {
	case "gzip":
		rd, err = gzip.NewReader(src)
	case "zlib":
		rd, err = zlib.NewReader(src)
	case "bzip2":
		rd = bzip2.NewReader(src)
	default:
		st.find(Finding{Kind: KindUnscanned, Verdict: Unknown, Member: member,
			Reason: "pickle compressed with " + kind + " is not scanned"})
		return
	}
	if err != nil {
		st.find(Finding{Kind: KindContainer, Verdict: Unknown, Member: where, Reason: "cannot decompress: " + err.Error()})
		return
	}
	st.pickles(rd, where, depth, false)
}
