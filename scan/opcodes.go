package scan

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"
)

// opTable maps each pickle opcode (protocols 0–5, as in CPython's
// pickletools) to its handler; nil means unknown.
var opTable [256]func(*walker) error

func init() {
	ops := map[byte]func(*walker) error{
		'(': opMark, '.': opStop, '0': opPop, '1': opPopMark, '2': opDup,
		'F': opLineOther, 'I': opLineOther, 'L': opLineOther,
		'J': fixedOther(4), 'K': fixedOther(1), 'M': fixedOther(2), 'G': fixedOther(8),
		'N': opPushOther, 0x88: opPushOther, 0x89: opPushOther,
		')': opPushOther, ']': opPushOther, '}': opPushOther, 0x8f: opPushOther,
		0x8a: opLong1, 0x8b: opLong4,
		'P': opPersID, 'Q': opBinPersID, 'R': opReduce, 'b': opBuild,
		'S': opString, 'T': sized(4, true, false), 'U': sized(1, false, false),
		'V': opUnicode, 'X': sized(4, false, true), 0x8c: sized(1, false, true), 0x8d: sized(8, false, true),
		'B': sized(4, false, false), 'C': sized(1, false, false), 0x8e: sized(8, false, false),
		0x96: sized(8, false, false),
		'a':  opAppend, 'e': opMarkThenTop, 0x90: opMarkThenTop, 'u': opMarkThenTop,
		's': opSetItem, 'd': opMarkToOther, 'l': opMarkToOther, 0x91: opMarkToOther,
		'c': opGlobal, 0x93: opStackGlobal, 'i': opInst, 'o': opObj,
		0x81: opNewObj, 0x92: opNewObjEx,
		'g': opGet, 'h': getN(1), 'j': getN(4),
		'p': opPut, 'q': putN(1), 'r': putN(4), 0x94: opMemoize,
		't': opTuple, 0x85: tupleN(1), 0x86: tupleN(2), 0x87: tupleN(3),
		0x80: opProto, 0x95: opFrame, 0x82: extN(1), 0x83: extN(2), 0x84: extN(4),
		0x97: opNextBuffer, 0x98: opReadonlyBuffer,
	}
	for c, h := range ops {
		opTable[c] = h
	}
}

func opMark(w *walker) error {
	if len(w.marks) >= w.st.lim.MaxStack {
		return limitErr("more than %d MARKs", w.st.lim.MaxStack)
	}
	w.marks = append(w.marks, len(w.stack))
	return nil
}

func opStop(w *walker) error {
	if _, err := w.pop(); err != nil {
		return err
	}
	return errStop
}

// opPop pops the top value, or the topmost mark when nothing is above it.
func opPop(w *walker) error {
	if len(w.stack) > w.fence() {
		w.stack = w.stack[:len(w.stack)-1]
		return nil
	}
	_, err := w.popMark()
	return err
}

func opPopMark(w *walker) error {
	_, err := w.popMark()
	return err
}

func opDup(w *walker) error {
	t, err := w.top()
	if err != nil {
		return err
	}
	return w.push(*t)
}

func opPushOther(w *walker) error { return w.push(value{}) }

// opLineOther reads the decimal or float literal of INT, LONG and FLOAT.
func opLineOther(w *walker) error {
	b, long, err := w.line()
	if err != nil {
		return err
	}
	if w.sniff && (long || len(b) == 0 || bytes.ContainsFunc(b, func(r rune) bool { return r < 0x20 || r > 0x7e })) {
		return malformed("bad number literal")
	}
	return w.push(value{})
}

func fixedOther(n int) func(*walker) error {
	return func(w *walker) error {
		if _, err := w.fixed(n); err != nil {
			return err
		}
		return w.push(value{})
	}
}

func opLong1(w *walker) error {
	n, err := w.uint(1)
	if err != nil {
		return err
	}
	if _, err := w.data(n, false); err != nil {
		return err
	}
	return w.push(value{})
}

func opLong4(w *walker) error {
	n, err := w.uint(4)
	if err != nil {
		return err
	}
	if int32(n) < 0 {
		return malformed("LONG4 with negative length")
	}
	if _, err := w.data(n, false); err != nil {
		return err
	}
	return w.push(value{})
}

// sized reads a string with an n-byte little-endian length; text strings
// are UTF-8.
func sized(n int, signed, text bool) func(*walker) error {
	return func(w *walker) error {
		l, err := w.uint(n)
		if err != nil {
			return err
		}
		if signed && int32(l) < 0 || l > 1<<63-1 {
			return malformed("negative string length")
		}
		v, err := w.data(l, text)
		if err != nil {
			return err
		}
		return w.pushString(v, text)
	}
}

func opString(w *walker) error {
	v, err := w.lineValue(decodeQuoted)
	if err != nil {
		return err
	}
	return w.pushString(v, false)
}

func opUnicode(w *walker) error {
	v, err := w.lineValue(rawUnicodeEscape)
	if err != nil {
		return err
	}
	return w.pushString(v, true)
}

func opAppend(w *walker) error {
	if _, err := w.pop(); err != nil {
		return err
	}
	_, err := w.top()
	return err
}

// opMarkThenTop: APPENDS, SETITEMS and ADDITEMS pop to the mark and update
// the container below it.
func opMarkThenTop(w *walker) error {
	if _, err := w.popMark(); err != nil {
		return err
	}
	_, err := w.top()
	return err
}

func opSetItem(w *walker) error {
	for range 2 {
		if _, err := w.pop(); err != nil {
			return err
		}
	}
	_, err := w.top()
	return err
}

// opMarkToOther: DICT, LIST and FROZENSET build a container from the items
// above the mark.
func opMarkToOther(w *walker) error {
	if _, err := w.popMark(); err != nil {
		return err
	}
	return w.push(value{})
}

func opTuple(w *walker) error {
	items, err := w.popMark()
	if err != nil {
		return err
	}
	return w.pushTuple(items)
}

func tupleN(n int) func(*walker) error {
	return func(w *walker) error {
		if len(w.stack)-w.fence() < n {
			return malformed("stack underflow")
		}
		items := w.stack[len(w.stack)-n:]
		w.stack = w.stack[:len(w.stack)-n]
		return w.pushTuple(items)
	}
}

func (w *walker) pushTuple(items []value) error {
	t := value{k: vTuple}
	if len(items) <= maxTupleItems && w.charge(valueCost*len(items)) {
		t.items = append([]value(nil), items...)
		for i := range t.items {
			t.items[i].items = nil // persistent ids need one level only
		}
	}
	return w.push(t)
}

// --- imports and calls ---

func opGlobal(w *walker) error {
	mod, name, err := w.twoLines()
	if err != nil {
		return err
	}
	return w.global(mod, name)
}

func (w *walker) twoLines() (string, string, error) {
	var out [2]string
	for i := range out {
		b, long, err := w.line()
		if err != nil {
			return "", "", err
		}
		if long {
			return "", "", limitErr("import name longer than %d bytes", w.st.lim.MaxString)
		}
		out[i] = string(b)
	}
	return out[0], out[1], nil
}

func opStackGlobal(w *walker) error {
	name, err := w.pop()
	if err != nil {
		return err
	}
	mod, err := w.pop()
	if err != nil {
		return err
	}
	if mod.k == vStr && name.k == vStr {
		return w.global(mod.s, name.s)
	}
	// Numbers, containers and tuples are never str; an imported name may be
	// a module's string constant, so it is unresolved like a call's result.
	if mod.k == vOther || name.k == vOther || mod.k == vTuple || name.k == vTuple {
		return malformed("STACK_GLOBAL requires str")
	}
	return w.unresolved(mod, name)
}

func opInst(w *walker) error {
	mod, name, err := w.twoLines()
	if err != nil {
		return err
	}
	if _, err := w.popMark(); err != nil {
		return err
	}
	if err := w.global(mod, name); err != nil {
		return err
	}
	w.stack[len(w.stack)-1] = value{k: vComputed}
	return nil
}

func opObj(w *walker) error {
	items, err := w.popMark()
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return malformed("OBJ without a class")
	}
	return w.call(items[0], "OBJ")
}

func opReduce(w *walker) error {
	args, err := w.pop()
	if err != nil {
		return err
	}
	fn, err := w.pop()
	if err != nil {
		return err
	}
	if err := w.call(fn, "REDUCE"); err != nil {
		return err
	}
	if fn.k == vGlobal && fn.s == "functools\x00partial" {
		w.partial(args)
	}
	return nil
}

// partial names the denied function a functools.partial wraps: the call
// runs when the partial is called, perhaps long after loading.
func (w *walker) partial(args value) {
	if args.k != vTuple || len(args.items) == 0 || args.items[0].k != vGlobal {
		return
	}
	mod, name, _ := cutNUL(args.items[0].s)
	if v, _ := classify(mod, name); v == Unsafe {
		w.st.find(Finding{Kind: KindCall, Verdict: Unsafe, Member: w.member, Module: mod, Name: name, Offset: w.op,
			Reason: "functools.partial wraps a denied function"})
	}
}

func opNewObj(w *walker) error {
	if _, err := w.pop(); err != nil {
		return err
	}
	cls, err := w.pop()
	if err != nil {
		return err
	}
	return w.call(cls, "NEWOBJ")
}

func opNewObjEx(w *walker) error {
	for range 2 {
		if _, err := w.pop(); err != nil {
			return err
		}
	}
	cls, err := w.pop()
	if err != nil {
		return err
	}
	return w.call(cls, "NEWOBJ_EX")
}

// opBuild: BUILD sets state on the object below it. On an imported name
// (a class or function itself, not an instance) that rewrites it for every
// later user: no checkpoint does that.
func opBuild(w *walker) error {
	if _, err := w.pop(); err != nil {
		return err
	}
	t, err := w.top()
	if err != nil {
		return err
	}
	switch t.k {
	case vGlobal:
		mod, name, _ := cutNUL(t.s)
		w.st.find(Finding{Kind: KindCall, Verdict: Unsafe, Member: w.member, Module: mod, Name: name,
			Offset: w.op, Reason: "BUILD sets attributes on an imported name"})
	case vLost:
		w.st.find(Finding{Kind: KindCall, Verdict: Unknown, Member: w.member, Offset: w.op,
			Reason: "BUILD sets attributes on a memo entry past the memo limit"})
	}
	return nil
}

func cutNUL(s string) (string, string, bool) {
	i := bytes.IndexByte([]byte(s), 0)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

func opPersID(w *walker) error {
	if _, _, err := w.line(); err != nil {
		return err
	}
	return w.push(value{k: vComputed})
}

// opBinPersID: PyTorch refers to each storage by a persistent id
// ('storage', storage_type, key, location, numel); the key names the zip
// member holding its bytes.
func opBinPersID(w *walker) error {
	pid, err := w.pop()
	if err != nil {
		return err
	}
	if pid.k == vTuple && len(pid.items) >= 3 && pid.items[0].k == vStr && pid.items[0].s == "storage" &&
		pid.items[2].k == vStr && len(w.storages) < w.st.lim.MaxMembers {
		w.storages = append(w.storages, pid.items[2].s)
	}
	return w.push(value{k: vComputed})
}

func extN(n int) func(*walker) error {
	return func(w *walker) error {
		code, err := w.uint(n)
		if err != nil {
			return err
		}
		w.imports++
		w.st.find(Finding{Kind: KindExtension, Verdict: Unknown, Member: w.member, Offset: w.op,
			Reason: fmt.Sprintf("extension code %d imports a name registered with copyreg", code)})
		return w.push(value{k: vComputed})
	}
}

// --- memo ---

func opGet(w *walker) error {
	b, err := w.indexLine()
	if err != nil {
		return err
	}
	k, err := parseIndex(b)
	if err != nil {
		return err
	}
	return w.memoGet(k)
}

// indexLine reads the decimal argument of GET or PUT. Python accepts any
// length (leading zeros, spaces): one too long to keep stops the walk as a
// limit, never as a malformed pickle the unpickler would still follow.
func (w *walker) indexLine() ([]byte, error) {
	b, long, err := w.line()
	if err == nil && long {
		err = limitErr("memo index longer than %d bytes", w.st.lim.MaxString)
	}
	return b, err
}

func getN(n int) func(*walker) error {
	return func(w *walker) error {
		k, err := w.uint(n)
		if err != nil {
			return err
		}
		return w.memoGet(k)
	}
}

func opPut(w *walker) error {
	b, err := w.indexLine()
	if err != nil {
		return err
	}
	k, err := parseIndex(b)
	if err != nil {
		return err
	}
	return w.put(k)
}

func putN(n int) func(*walker) error {
	return func(w *walker) error {
		k, err := w.uint(n)
		if err != nil {
			return err
		}
		return w.put(k)
	}
}

func (w *walker) put(k uint64) error {
	t, err := w.top()
	if err != nil {
		return err
	}
	w.memoPut(k, *t)
	return nil
}

// opMemoize stores the top under the next key, len(memo); once entries
// were dropped that key is unknown, so later GETs resolve to vLost.
func opMemoize(w *walker) error {
	if w.memo.lost {
		_, err := w.top()
		return err
	}
	return w.put(uint64(w.memo.n))
}

// --- framing and buffers ---

func opProto(w *walker) error {
	p, err := w.byte()
	if err != nil {
		return err
	}
	if p > 5 {
		return malformed("unsupported pickle protocol %d", p)
	}
	return nil
}

// opFrame: frames only group opcodes for buffering; the opcodes inside are
// walked as usual.
func opFrame(w *walker) error {
	_, err := w.fixed(8)
	return err
}

func opNextBuffer(w *walker) error { return w.push(value{k: vComputed}) }

func opReadonlyBuffer(w *walker) error {
	_, err := w.top()
	return err
}

// --- string literals ---

var errTrailingBackslash = errors.New("trailing \\ in string")

// decodeQuoted decodes the argument of STRING: a quoted Python 2 str
// literal with backslash escapes (PyBytes_DecodeEscape).
func decodeQuoted(b []byte) (string, error) {
	if len(b) < 2 || b[0] != b[len(b)-1] || (b[0] != '\'' && b[0] != '"') {
		return "", errors.New("the STRING opcode argument must be quoted")
	}
	b = b[1 : len(b)-1]
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			out = append(out, b[i])
			continue
		}
		i++
		if i == len(b) {
			return "", errTrailingBackslash
		}
		c, n, err := escape(b[i:])
		if err != nil {
			return "", err
		}
		out = append(out, c...)
		i += n - 1
	}
	return string(out), nil
}

var simpleEscapes = map[byte]byte{'\\': '\\', '\'': '\'', '"': '"', 'a': 7, 'b': 8, 'f': 12, 'n': 10, 'r': 13, 't': 9, 'v': 11}

// escape decodes one escape after its backslash, returning the bytes and
// how many input bytes it used.
func escape(b []byte) ([]byte, int, error) {
	if c, ok := simpleEscapes[b[0]]; ok {
		return []byte{c}, 1, nil
	}
	switch {
	case b[0] == '\n':
		return nil, 1, nil
	case b[0] >= '0' && b[0] <= '7':
		v, n := 0, 0
		for n < 3 && n < len(b) && b[n] >= '0' && b[n] <= '7' {
			v = v*8 + int(b[n]-'0')
			n++
		}
		return []byte{byte(v)}, n, nil
	case b[0] == 'x':
		if len(b) < 3 || unhex(b[1]) < 0 || unhex(b[2]) < 0 {
			return nil, 0, errors.New("invalid \\x escape")
		}
		return []byte{byte(unhex(b[1])<<4 | unhex(b[2]))}, 3, nil
	}
	return []byte{'\\', b[0]}, 1, nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// rawUnicodeEscape decodes the argument of UNICODE: Latin-1 bytes where
// \uXXXX and \UXXXXXXXX (after an odd number of backslashes) are escapes.
func rawUnicodeEscape(b []byte) (string, error) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		if b[i] != '\\' {
			out = utf8.AppendRune(out, rune(b[i]))
			i++
			continue
		}
		j := i
		for j < len(b) && b[j] == '\\' {
			j++
		}
		run := j - i
		if run%2 == 0 || j == len(b) || (b[j] != 'u' && b[j] != 'U') {
			for range run {
				out = append(out, '\\')
			}
			i = j
			continue
		}
		for range run - 1 {
			out = append(out, '\\')
		}
		n := 4
		if b[j] == 'U' {
			n = 8
		}
		if j+1+n > len(b) {
			return "", errors.New("truncated \\uXXXX escape")
		}
		var r rune
		for _, c := range b[j+1 : j+1+n] {
			if unhex(c) < 0 {
				return "", errors.New("truncated \\uXXXX escape")
			}
			r = r<<4 | rune(unhex(c))
		}
		if r > utf8.MaxRune {
			return "", errors.New("\\Uxxxxxxxx out of range")
		}
		out = utf8.AppendRune(out, r)
		i = j + 1 + n
	}
	return string(out), nil
}
