package scan

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// vkind is what the walker knows about a stack value.
type vkind uint8

const (
	vOther    vkind = iota // a literal that is not a string: number, None, container
	vStr                   // a str or bytes literal whose content is kept in s
	vLong                  // a string literal too long to keep
	vGlobal                // an imported name; s is "module\x00name"
	vTuple                 // a tuple; its items are kept when it is short
	vComputed              // the result of a call, a persistent load or an extension code
	vLost                  // a memo entry the walker did not keep (past MaxMemo)
)

// value is a stack or memo entry. Only what resolving names needs is kept.
type value struct {
	k     vkind
	s     string
	items []value
}

// maxTupleItems is the longest tuple whose items are kept (persistent ids
// have five).
const maxTupleItems = 8

// walkError ends a walk; it becomes a finding unless the stream was only
// sniffed and showed no import.
type walkError struct {
	kind    Kind
	verdict Verdict
	msg     string
}

func (e *walkError) Error() string { return e.msg }

func malformed(format string, args ...any) error {
	return &walkError{KindMalformed, Unknown, fmt.Sprintf(format, args...)}
}

func limitErr(format string, args ...any) error {
	return &walkError{KindLimit, Unsafe, fmt.Sprintf(format, args...)}
}

var errTruncated = &walkError{KindTruncated, Unknown, "stream ends before the pickle's STOP opcode"}

// errStop is returned by the STOP opcode.
var errStop = errors.New("STOP")

// walker follows one pickle stream's opcodes without executing anything.
type walker struct {
	st       *state
	in       *bufio.Reader
	off      int64 // offset of the next byte
	op       int64 // offset of the current opcode
	member   string
	depth    int
	sniff    bool // the stream may not be a pickle: errors before any import are not findings
	imports  int
	stack    []value
	marks    []int
	memo     memo
	storages []string // storage keys of persistent ids
	nops     int
	buf      [8]byte
	scratch  []byte
}

// legacyMagic is the first pickle of torch.save's pre-1.6 format: the
// protocol-2 LONG1 0x1950a86a20f9469cfc6c. Four more pickles follow it
// (protocol version, system info, the data, the storage keys), then raw
// storage bytes.
var legacyMagic = []byte("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e")

// pickles walks the pickle stream in r and any pickle following its STOP,
// recording findings under member. It returns the walker (for the storage
// keys the pickles referred to) and whether r held a pickle at all.
func (st *state) pickles(r io.Reader, member string, depth int, sniff bool) (*walker, bool) {
	// A sniffed stream is usually no pickle: do not read ahead much of it.
	bufSize := 64 << 10
	if sniff {
		bufSize = 4 << 10
	}
	w := &walker{st: st, in: bufio.NewReaderSize(r, bufSize), member: member, depth: depth, sniff: sniff}
	legacy := false
	if b, _ := w.in.Peek(len(legacyMagic)); bytes.Equal(b, legacyMagic) {
		legacy = true
	}
	for n := 0; ; n++ {
		start := w.off
		err := w.walk()
		if err != errStop {
			return w, w.fail(err, start)
		}
		st.sink.pickles++
		if legacy && n == 4 {
			return w, true // raw storage bytes follow
		}
		if _, err := w.in.Peek(1); err != nil {
			return w, true
		}
		// Bytes after STOP: another pickle.load on the same file reads
		// them. Walk them as a sniffed stream (garbage is not a finding),
		// except the pickles torch's legacy loader reads one after another.
		if !legacy {
			w.sniff, w.imports = true, 0
		}
		w.stack, w.marks = w.stack[:0], w.marks[:0]
	}
}

// fail records err as a finding and reports whether the stream counts as a
// pickle. start is where this pickle began.
func (w *walker) fail(err error, start int64) bool {
	var we *walkError
	if !errors.As(err, &we) {
		we = &walkError{KindContainer, Unknown, "reading stream: " + err.Error()}
	}
	if w.sniff && w.imports == 0 {
		return false
	}
	if we.kind == KindMalformed && w.op == 0 && start == 0 {
		we = &walkError{KindUnscanned, Unknown, "not a pickle: " + we.msg}
		w.st.find(Finding{Kind: we.kind, Verdict: we.verdict, Member: w.member, Offset: w.op, Reason: we.msg})
		return false
	}
	w.st.sink.pickles++
	w.st.find(Finding{Kind: we.kind, Verdict: we.verdict, Member: w.member, Offset: w.op, Reason: we.msg})
	return true
}

// walk follows opcodes until STOP (returning errStop) or an error.
func (w *walker) walk() error {
	for {
		w.nops++
		if w.nops&4095 == 0 && w.st.ctx.Err() != nil {
			return limitErr("scan did not finish in time: %v", w.st.ctx.Err())
		}
		w.op = w.off
		c, err := w.byte()
		if err != nil {
			return err
		}
		h := opTable[c]
		if h == nil {
			return malformed("unknown opcode 0x%02x", c)
		}
		if err := h(w); err != nil {
			return err
		}
	}
}

// tooLong is the error for a string of n bytes, more than a stream may
// hold: a limit finding if the stream does go on past the limit, but
// truncation if it ends first. Bytes of another kind under a pickle's name
// (a fastText or GGML .bin) often read as a few opcodes and then such a
// length; Python's pickle stops there too, before anything after runs.
func (w *walker) tooLong(n uint64) error {
	rest := w.st.lim.MaxPickleBytes - w.off + 1
	for rest > 0 {
		k, err := w.in.Discard(int(min(rest, 1<<30)))
		rest -= int64(k)
		if err != nil {
			return w.ioErr(err)
		}
	}
	return limitErr("string of %d bytes", n)
}

func (w *walker) ioErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errTruncated
	}
	return &walkError{KindContainer, Unknown, "reading stream: " + err.Error()}
}

func (w *walker) advance(n int64) error {
	w.off += n
	if w.off > w.st.lim.MaxPickleBytes {
		return limitErr("pickle stream longer than %d bytes", w.st.lim.MaxPickleBytes)
	}
	return nil
}

func (w *walker) byte() (byte, error) {
	b, err := w.in.ReadByte()
	if err != nil {
		return 0, w.ioErr(err)
	}
	return b, w.advance(1)
}

// fixed reads n ≤ 8 bytes.
func (w *walker) fixed(n int) ([]byte, error) {
	if _, err := io.ReadFull(w.in, w.buf[:n]); err != nil {
		return nil, w.ioErr(err)
	}
	return w.buf[:n], w.advance(int64(n))
}

func (w *walker) uint(n int) (uint64, error) {
	b, err := w.fixed(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

// keep reports whether a name-sized string of n bytes may be kept within
// MaxRetained, and reserves it.
func (w *walker) keep(n uint64) bool {
	return n <= maxNameLen && w.charge(int(n))
}

// charge reserves n bytes of MaxRetained, reporting whether they were left.
func (w *walker) charge(n int) bool {
	if w.st.retained+int64(n) > w.st.lim.MaxRetained {
		return false
	}
	w.st.retained += int64(n)
	return true
}

// str makes the value of a string literal. Only strings short enough to be
// a name are kept; a longer one carries its content just until pushString
// has looked in it for a nested pickle or zip.
func (w *walker) str(s string) value {
	if w.keep(uint64(len(s))) {
		return value{k: vStr, s: s}
	}
	return value{k: vLong, s: s}
}

// nestedAhead reports whether the string about to be read starts like a
// pickle or a zip (in UTF-8 for text, as protocols 0–2 write bytes).
func (w *walker) nestedAhead(text bool) bool {
	head, _ := w.in.Peek(4)
	return looksPickle(head) || bytes.HasPrefix(head, []byte("PK\x03\x04")) ||
		(text && bytes.HasPrefix(head, []byte("\xc2\x80")))
}

// data reads a length-prefixed string of n bytes. It is read into memory
// only when it may be a name, or may hold a nested pickle or zip of at most
// MaxString bytes; otherwise it is skipped.
func (w *walker) data(n uint64, text bool) (value, error) {
	if n > uint64(w.st.lim.MaxPickleBytes) {
		return value{}, w.tooLong(n)
	}
	nested := n > maxNameLen && w.nestedAhead(text)
	if n <= maxNameLen || (nested && n <= uint64(w.st.lim.MaxString)) {
		if uint64(cap(w.scratch)) < n {
			w.scratch = make([]byte, n)
		}
		b := w.scratch[:n]
		m, err := io.ReadFull(w.in, b)
		if err := w.advance(int64(m)); err != nil {
			return value{}, err
		}
		if err != nil {
			return value{}, w.ioErr(err)
		}
		return w.str(string(b)), nil
	}
	if nested {
		w.st.find(Finding{Kind: KindLimit, Verdict: Unknown, Member: w.member, Offset: w.op,
			Reason: fmt.Sprintf("string of %d bytes looks like a pickle or zip but is longer than %d; not scanned", n, w.st.lim.MaxString)})
	}
	m, err := io.CopyN(io.Discard, w.in, int64(n))
	if err := w.advance(m); err != nil {
		return value{}, err
	}
	if err != nil {
		return value{}, w.ioErr(err)
	}
	return value{k: vLong}, nil
}

// line reads up to and excluding '\n'. A line longer than MaxString is
// skipped, not kept (long is then true).
func (w *walker) line() (b []byte, long bool, err error) {
	for {
		chunk, err := w.in.ReadSlice('\n')
		if aerr := w.advance(int64(len(chunk))); aerr != nil {
			return nil, false, aerr
		}
		if !long {
			if len(b)+len(chunk) <= w.st.lim.MaxString {
				b = append(b, chunk...)
			} else {
				long, b = true, nil
			}
		}
		switch {
		case err == nil:
			if long {
				return nil, true, nil
			}
			return b[:len(b)-1], false, nil
		case err != bufio.ErrBufferFull:
			return nil, false, w.ioErr(err)
		}
	}
}

// lineValue reads a line and returns it as a string value.
func (w *walker) lineValue(decode func([]byte) (string, error)) (value, error) {
	b, long, err := w.line()
	if err != nil {
		return value{}, err
	}
	if long {
		return value{k: vLong}, nil
	}
	s, err := decode(b)
	if err != nil {
		return value{}, malformed("%v", err)
	}
	return w.str(s), nil
}

// --- stack ---

func (w *walker) push(v value) error {
	if len(w.stack) >= w.st.lim.MaxStack {
		return limitErr("pickle stack deeper than %d", w.st.lim.MaxStack)
	}
	w.stack = append(w.stack, v)
	return nil
}

// pushString pushes a new string literal and scans it when it holds a
// pickle or a zip of its own.
func (w *walker) pushString(v value, text bool) error {
	w.st.nested(v.s, text, w.member, w.op, w.depth)
	if v.k == vLong {
		v.s = ""
	}
	return w.push(v)
}

func (w *walker) fence() int {
	if len(w.marks) == 0 {
		return 0
	}
	return w.marks[len(w.marks)-1]
}

func (w *walker) pop() (value, error) {
	if len(w.stack) <= w.fence() {
		return value{}, malformed("stack underflow")
	}
	v := w.stack[len(w.stack)-1]
	w.stack = w.stack[:len(w.stack)-1]
	return v, nil
}

func (w *walker) top() (*value, error) {
	if len(w.stack) <= w.fence() {
		return nil, malformed("stack underflow")
	}
	return &w.stack[len(w.stack)-1], nil
}

// popMark pops the items above the topmost MARK, and the mark.
func (w *walker) popMark() ([]value, error) {
	if len(w.marks) == 0 {
		return nil, malformed("no MARK on the stack")
	}
	m := w.marks[len(w.marks)-1]
	w.marks = w.marks[:len(w.marks)-1]
	items := w.stack[m:]
	w.stack = w.stack[:m]
	return items, nil
}

// parseIndex parses a decimal memo index the way the unpickler does.
func parseIndex(b []byte) (uint64, error) {
	s := string(bytes.TrimSpace(b))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Python also accepts underscores between digits.
		n, err = strconv.ParseInt(string(bytes.ReplaceAll([]byte(s), []byte("_"), nil)), 10, 64)
	}
	if err != nil || n < 0 {
		return 0, malformed("bad memo index %q", truncate(s))
	}
	return uint64(n), nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// --- imports and calls ---

// global classifies an import of name from module and pushes it.
func (w *walker) global(module, name string) error {
	if w.sniff && (!validDotted(module) || !validDotted(name)) {
		return malformed("import name is not an identifier")
	}
	w.imports++
	if joblibWrappers[module+"\x00"+name] {
		w.st.find(Finding{Kind: KindUnscanned, Verdict: Unsafe, Member: w.member, Module: module, Name: name, Offset: w.op,
			Reason: "joblib writes numpy array bytes inline after this wrapper, and joblib.load goes on unpickling " +
				"after them: the scanner cannot follow the stream past them"})
	}
	v, why := classify(module, name)
	w.st.sink.addImport(module, name, v)
	if v != Safe {
		w.st.find(Finding{Kind: KindImport, Verdict: v, Member: w.member, Module: module, Name: name,
			Offset: w.op, Reason: why})
	}
	return w.push(value{k: vGlobal, s: module + "\x00" + name})
}

// unresolved records an import whose module or name is not a kept string.
func (w *walker) unresolved(module, name value) error {
	w.imports++
	what := func(v value) string {
		switch v.k {
		case vStr:
			return strconv.Quote(truncate(v.s))
		case vLong:
			return "a string not kept (longer than a name, or past MaxRetained)"
		case vLost:
			return "a memo entry past the memo limit"
		case vGlobal:
			return "an imported name (a module's string constant?)"
		default:
			return "a value computed by a call"
		}
	}
	w.st.find(Finding{Kind: KindUnresolved, Verdict: Unsafe, Member: w.member, Offset: w.op,
		Reason: fmt.Sprintf("STACK_GLOBAL module is %s, name is %s", what(module), what(name))})
	return w.push(value{k: vComputed})
}

// call handles REDUCE, OBJ, NEWOBJ and NEWOBJ_EX: the callable must be an
// imported name, whose import was classified already.
func (w *walker) call(fn value, op string) error {
	switch fn.k {
	case vGlobal:
	case vOther, vStr:
		return malformed("%s calls a value that is not callable", op)
	default:
		w.st.find(Finding{Kind: KindCall, Verdict: Unknown, Member: w.member, Offset: w.op,
			Reason: op + " calls a value that is not an imported name"})
	}
	return w.push(value{k: vComputed})
}

// joblibWrappers are the classes joblib pickles in place of a numpy array,
// writing the array's raw bytes into the stream right after building one.
// Where joblib.load resumes depends on the wrapper's state, which a
// crafted stream can make the walker misread (the walker does not model
// object identity), so the import itself is the finding: however a wrapper
// object is made, its class is imported first.
var joblibWrappers = setOf("joblib.numpy_pickle\x00NumpyArrayWrapper", "joblib.numpy_pickle\x00NDArrayWrapper",
	"joblib.numpy_pickle\x00ZNDArrayWrapper", "sklearn.externals.joblib.numpy_pickle\x00NumpyArrayWrapper")

// validDotted reports whether s is a dotted Python identifier (ASCII only).
func validDotted(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	start := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' && !start:
			start = true
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			start = false
		case c >= '0' && c <= '9' && !start:
		default:
			return false
		}
	}
	return !start
}

// nested scans a string literal that holds a pickle or a zip of its own:
// what pickle.loads or torch.load would read if the pickle calls them.
func (st *state) nested(s string, text bool, member string, off int64, depth int) {
	b := []byte(s)
	if text && (strings.HasPrefix(s, "\xc2\x80") || strings.HasPrefix(s, "PK\x03\x04")) {
		// Protocols 0–2 pickle bytes as _codecs.encode(str, "latin1").
		if lb, ok := latin1(s); ok {
			b = lb
		}
	}
	isPickle := looksPickle(b)
	isZip := bytes.HasPrefix(b, []byte("PK\x03\x04"))
	if !isPickle && !isZip {
		return
	}
	where := fmt.Sprintf("%s@%d", member, off)
	if depth+1 > st.lim.MaxDepth {
		st.find(Finding{Kind: KindLimit, Verdict: Unknown, Member: where,
			Reason: fmt.Sprintf("nested deeper than %d; not scanned", st.lim.MaxDepth)})
		return
	}
	if isZip {
		st.zip(bytes.NewReader(b), int64(len(b)), where, depth+1)
		return
	}
	st.pickles(bytes.NewReader(b), where, depth+1, true)
}

// latin1 converts a UTF-8 string whose runes are all below 256 to bytes.
func latin1(s string) ([]byte, bool) {
	if !utf8.ValidString(s) {
		return nil, false
	}
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 255 {
			return nil, false
		}
		out = append(out, byte(r))
	}
	return out, true
}
