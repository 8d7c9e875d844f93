package scan

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func scanWith(t *testing.T, lim Limits, name string, b []byte) Report {
	t.Helper()
	rep, err := (&Scanner{Limits: lim}).File(context.Background(), name, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func hasFinding(rep Report, kind Kind, v Verdict, sub string) bool {
	for _, f := range rep.Findings {
		if f.Kind == kind && f.Verdict == v && strings.Contains(f.String(), sub) {
			return true
		}
	}
	return false
}

func TestClassify(t *testing.T) {
	cases := []struct {
		module, name string
		want         Verdict
	}{
		{"torch._utils", "_rebuild_tensor_v2", Safe},
		{"torch", "FloatStorage", Safe},
		{"collections", "OrderedDict", Safe},
		{"__builtin__", "set", Safe},
		{"copy_reg", "_reconstructor", Safe},
		{"numpy.core.multiarray", "_reconstruct", Safe},
		{"_codecs", "encode", Safe},
		{"argparse", "Namespace", Unknown},
		{"torch.nn.modules.linear", "Linear", Unknown},
		{"collections", "OrderedDict.fromkeys", Unknown},
		{"os", "system", Unsafe},
		{"os.path", "join", Unsafe},
		{"posix", "system", Unsafe},
		{"nt", "system", Unsafe},
		{"builtins", "eval", Unsafe},
		{"builtins", "getattr", Unsafe},
		{"__builtin__", "eval", Unsafe},
		{"__builtin__", "__import__", Unsafe},
		{"commands", "getoutput", Unsafe},
		{"subprocess", "check_output", Unsafe},
		{"importlib", "import_module", Unsafe},
		{"pickle", "loads", Unsafe},
		{"operator", "attrgetter", Unsafe},
		{"operator", "add", Unknown},
		{"torch", "load", Unsafe},
		{"torch", "serialization.os.system", Unsafe},
		{"torch", "serialization.load", Unsafe},
		{"collections", "OrderedDict.__init__.__globals__", Unsafe},
		{"numpy.testing._private.utils", "runstring", Unsafe},
		{"asyncio.subprocess", "create_subprocess_shell", Unsafe},
		{"types", "CodeType", Unsafe},
		{"builtins", "__getattribute__", Unsafe},
		{"torch", "__builtins__", Unsafe},
		{"_operator", "attrgetter", Unsafe},
		{"copyreg", "__newobj__", Unknown},
	}
	for _, c := range cases {
		if got, why := classify(c.module, c.name); got != c.want {
			t.Errorf("classify(%s, %s) = %s (%s), want %s", c.module, c.name, got, why, c.want)
		}
	}
}

// stackGlobalOS memoises "os" and "system" as entries 2 and 3 after two
// decoys, pops them all and imports through BINGET.
const stackGlobalOS = "\x80\x04" + "\x8c\x01a\x940" + "\x8c\x01b\x940" + "\x8c\x02os\x940" + "\x8c\x06system\x940" +
	"h\x02h\x03\x93)R."

func TestMemoLimit(t *testing.T) {
	rep := scanWith(t, Limits{}, "x.pkl", []byte(stackGlobalOS))
	if !hasFinding(rep, KindImport, Unsafe, "os.system") {
		t.Fatalf("default limits: %+v", rep.Findings)
	}
	// Past the memo limit the names are lost: the import is unresolved.
	rep = scanWith(t, Limits{MaxMemo: 2}, "x.pkl", []byte(stackGlobalOS))
	if rep.Verdict != Unsafe || !hasFinding(rep, KindUnresolved, Unsafe, "past the memo limit") {
		t.Fatalf("MaxMemo 2: %+v", rep.Findings)
	}
}

func TestMemoKeys(t *testing.T) {
	// Sparse keys (LONG_BINPUT 1e9), overwritten keys, and MEMOIZE after
	// them: MEMOIZE's key is the number of entries, here 2.
	p := "\x80\x04" + "\x8c\x02osr\x00\xca\x9a\x3b0" + "\x8c\x02xxq\x000" + "\x8c\x06system\x940" +
		"\x8c\x02osq\x000" + "h\x00h\x02\x93)R."
	rep := scanWith(t, Limits{}, "x.pkl", []byte(p))
	if !hasFinding(rep, KindImport, Unsafe, "os.system") {
		t.Fatalf("%+v", rep.Findings)
	}
	// Past MaxMemo a MEMOIZE key is unknown: later GETs are lost, not errors.
	rep = scanWith(t, Limits{MaxMemo: 1}, "x.pkl", []byte(p))
	if !hasFinding(rep, KindUnresolved, Unsafe, "past the memo limit") {
		t.Fatalf("MaxMemo 1: %+v", rep.Findings)
	}
}

func TestStackGlobalOfImports(t *testing.T) {
	// Module constants that are strings: STACK_GLOBAL(string.x, string.y)
	// imports whatever they hold.
	p := "\x80\x04cstring\nx\ncstring\ny\n\x93)R."
	rep := scanWith(t, Limits{}, "x.pkl", []byte(p))
	if rep.Verdict != Unsafe || !hasFinding(rep, KindUnresolved, Unsafe, "module's string constant") {
		t.Fatalf("%+v", rep.Findings)
	}
}

func TestStringLimits(t *testing.T) {
	// A kept-string budget too small for "system" makes the name unresolved.
	rep := scanWith(t, Limits{MaxRetained: 3}, "x.pkl", []byte(stackGlobalOS))
	if !hasFinding(rep, KindUnresolved, Unsafe, "past MaxRetained") {
		t.Fatalf("MaxRetained 3: %+v", rep.Findings)
	}
	// Large byte strings (array data) are skipped, not kept: they use none
	// of the budget names need.
	var arrays strings.Builder
	arrays.WriteString("\x80\x04")
	for range 100 {
		arrays.WriteString("B\x00\x00\x10\x00") // BINBYTES of 1 MiB, then POP
		arrays.WriteString(strings.Repeat("\x00", 1<<20) + "0")
	}
	arrays.WriteString("\x8c\x0bcollections\x8c\x0bOrderedDict\x93)R.")
	rep = scanWith(t, Limits{MaxRetained: 1 << 10}, "x.pkl", []byte(arrays.String()))
	if rep.Verdict != Safe {
		t.Fatalf("100 MiB of arrays: %+v", rep.Findings)
	}
	// A string too long to read that starts like a pickle is reported.
	nested := "\x80\x04B\x00\x00\x01\x00\x80\x04" + strings.Repeat("N", 1<<16-2) + "0N."
	rep = scanWith(t, Limits{MaxString: 1 << 10}, "x.pkl", []byte(nested))
	if rep.Verdict != Unknown || !hasFinding(rep, KindLimit, Unknown, "looks like a pickle or zip but is longer than 1024") {
		t.Fatalf("long nested: %+v", rep.Findings)
	}
	long := "\x80\x02c" + strings.Repeat("a", 100) + "\nb\n)R."
	rep = scanWith(t, Limits{MaxString: 50}, "x.pkl", []byte(long))
	if !hasFinding(rep, KindLimit, Unsafe, "import name longer than 50") {
		t.Fatalf("long GLOBAL: %+v", rep.Findings)
	}
	put := "\x80\x02Np" + strings.Repeat("0", 100) + "\n."
	if rep := scanWith(t, Limits{}, "x.pkl", []byte(put)); rep.Verdict != Safe {
		t.Fatalf("PUT with leading zeros: %+v", rep.Findings)
	}
	rep = scanWith(t, Limits{MaxString: 50}, "x.pkl", []byte(put))
	if !hasFinding(rep, KindLimit, Unsafe, "memo index longer than 50") {
		t.Fatalf("long PUT: %+v", rep.Findings)
	}
	big := "\x80\x04\x8e" + "\x00\x00\x00\x00\x01\x00\x00\x00" + strings.Repeat("x", 2<<10)
	rep = scanWith(t, Limits{MaxPickleBytes: 1 << 10}, "x.pkl", []byte(big))
	if !hasFinding(rep, KindLimit, Unsafe, "string of 4294967296 bytes") {
		t.Fatalf("BINBYTES8 of 4 GiB: %+v", rep.Findings)
	}
	// The same in a stream that ends before the limit: truncated, as
	// Python's pickle finds it, not too long.
	rep = scanWith(t, Limits{MaxPickleBytes: 1 << 20}, "x.pkl", []byte(big))
	if rep.Verdict == Unsafe || !hasFinding(rep, KindTruncated, Unknown, "STOP") {
		t.Fatalf("BINBYTES8 of 4 GiB in 2 KiB: %+v", rep.Findings)
	}
}

// TestOtherBytesAsBin: a .bin that is no pickle, whose first bytes read
// as opcodes and then a length past the file's end (what made one random
// .bin in about a hundred unsafe), is not unsafe; a pickle that imports
// os.system before such a length still is.
func TestOtherBytesAsBin(t *testing.T) {
	other := "N)\x8d" + "\xff\xff\xff\xff\xff\xff\xff\x36" + strings.Repeat("\xa7", 4096)
	if rep := scanWith(t, Limits{}, "model.bin", []byte(other)); rep.Verdict == Unsafe {
		t.Fatalf("opcodes then a length past the end: %+v", rep.Findings)
	}
	bad := "\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R\x8d" + "\xff\xff\xff\xff\xff\xff\xff\x36" + "."
	if rep := scanWith(t, Limits{}, "model.bin", []byte(bad)); rep.Verdict != Unsafe {
		t.Fatalf("os.system, then a length past the end: %+v", rep.Findings)
	}
}

func TestStackLimit(t *testing.T) {
	p := "\x80\x02" + strings.Repeat("N", 100) + "."
	if rep := scanWith(t, Limits{}, "x.pkl", []byte(p)); rep.Verdict != Safe {
		t.Fatalf("100 NONEs: %+v", rep.Findings)
	}
	rep := scanWith(t, Limits{MaxStack: 10}, "x.pkl", []byte(p))
	if !hasFinding(rep, KindLimit, Unsafe, "stack deeper than 10") {
		t.Fatalf("MaxStack 10: %+v", rep.Findings)
	}
	marks := "\x80\x02" + strings.Repeat("(", 100) + "N."
	if rep := scanWith(t, Limits{MaxStack: 10}, "x.pkl", []byte(marks)); !hasFinding(rep, KindLimit, Unsafe, "MARKs") {
		t.Fatalf("100 MARKs: %+v", rep.Findings)
	}
}

func TestTimeout(t *testing.T) {
	p := []byte("\x80\x02" + strings.Repeat("N0", 1<<16) + "N.")
	rep := scanWith(t, Limits{Timeout: time.Nanosecond}, "x.pkl", p)
	if !hasFinding(rep, KindLimit, Unsafe, "did not finish in time") {
		t.Fatalf("timeout: %+v", rep.Findings)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := File(ctx, "x.pkl", bytes.NewReader(p), int64(len(p))); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled scan returned %v", err)
	}
	if _, err := (&Scanner{Limits: Limits{MaxStack: -1}}).File(context.Background(), "x", bytes.NewReader(p), 1); err == nil {
		t.Fatal("negative limit accepted")
	}
}

func TestMalformed(t *testing.T) {
	cases := map[string]string{
		"\x80\x02\xff.":           "unknown opcode 0xff",
		"\x80\x02h\x05.":          "memo key 5 was never stored",
		"\x80\x02R.":              "stack underflow",
		"\x80\x02N(R.":            "stack underflow", // REDUCE may not pop below a MARK
		"\x80\x06N.":              "unsupported pickle protocol 6",
		"\x80\x02K\x01K\x02\x93.": "STACK_GLOBAL requires str",
		"\x80\x02e.":              "no MARK",
	}
	for p, want := range cases {
		rep := scanWith(t, Limits{}, "x.pkl", []byte(p))
		if rep.Verdict != Unknown || !strings.Contains(rep.Summary(), want) {
			t.Errorf("%q: %s, want unknown with %q", p, rep.Summary(), want)
		}
	}
	// A .bin that is no pickle at all is reported as such, not as safe.
	rep := scanWith(t, Limits{}, "weights.bin", []byte{0, 1, 2, 3})
	if rep.Verdict != Unknown || rep.Format != FormatOther || !hasFinding(rep, KindUnscanned, Unknown, "not a pickle") {
		t.Errorf("raw .bin: %+v", rep)
	}
	// Other files that are no pickle are not pickle-scanned.
	if rep := scanWith(t, Limits{}, "config.json", []byte(`{"a": 1}`)); rep.Verdict != Safe || rep.Format != FormatOther {
		t.Errorf("config.json: %+v", rep)
	}
}

func TestDecoders(t *testing.T) {
	raw := map[string]string{
		`\u006fs`:     "os",
		`\\u006f`:     `\\u006f`, // an even run of backslashes escapes nothing
		`\\\u006f`:    `\\o`,
		`caf\xe9`:     `caf\xe9`,
		"\xe9":        "é",
		`\U0001F600!`: "😀!",
		`a\`:          `a\`,
	}
	for in, want := range raw {
		if got, err := rawUnicodeEscape([]byte(in)); err != nil || got != want {
			t.Errorf("rawUnicodeEscape(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := rawUnicodeEscape([]byte(`\u12`)); err == nil {
		t.Error("truncated \\u escape accepted")
	}
	quoted := map[string]string{
		`'os'`:        "os",
		`"sys\x74em"`: "system",
		`'a\'b'`:      "a'b",
		`'\101\n\q'`:  "A\n\\q",
	}
	for in, want := range quoted {
		if got, err := decodeQuoted([]byte(in)); err != nil || got != want {
			t.Errorf("decodeQuoted(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`os`, `'os"`, `'\x4'`, `'a\'`} {
		if _, err := decodeQuoted([]byte(bad)); err == nil {
			t.Errorf("decodeQuoted(%q) accepted", bad)
		}
	}
}

func TestStreamForm(t *testing.T) {
	rep, err := (&Scanner{}).Pickle(context.Background(), strings.NewReader(stackGlobalOS))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != Unsafe || rep.Format != FormatPickle || rep.BytesRead != int64(len(stackGlobalOS)) {
		t.Fatalf("%+v", rep)
	}
	if len(rep.Imports) != 1 || rep.Imports[0].Module != "os" || rep.Imports[0].Verdict != Unsafe {
		t.Fatalf("imports %+v", rep.Imports)
	}
	zrep, err := (&Scanner{}).Pickle(context.Background(), bytes.NewReader(zipOf(t, [2]string{"a/data.pkl", stackGlobalOS})))
	if err != nil || zrep.Verdict != Unknown || zrep.Format != FormatZip {
		t.Fatalf("zip as a stream: %+v, %v", zrep, err)
	}
	j, err := json.Marshal(rep)
	if err != nil || !strings.Contains(string(j), `"verdict":"unsafe"`) {
		t.Fatalf("json %s, %v", j, err)
	}
	var back Report
	if err := json.Unmarshal(j, &back); err != nil || back.Verdict != Unsafe {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

// zipOf builds a zip of stored members.
func zipOf(t *testing.T, members ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: m[0], Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(m[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestZipContainer(t *testing.T) {
	benign := "\x80\x02}."
	// Tensor data that happens to start like a pickle is not a finding.
	tensor := "\x80\x02\x00\x00\x41\x42"
	rep := scanWith(t, Limits{}, "m.pt", zipOf(t, [2]string{"archive/data.pkl", benign}, [2]string{"archive/data/7", tensor}))
	if rep.Verdict != Safe || rep.Format != FormatTorchZip {
		t.Fatalf("benign zip: %+v", rep)
	}
	rep = scanWith(t, Limits{}, "m.pt", zipOf(t, [2]string{"archive/data.pkl", benign}, [2]string{"archive/data.pkl", stackGlobalOS}))
	if !hasFinding(rep, KindContainer, Unsafe, "two members have this name") || !hasFinding(rep, KindImport, Unsafe, "os.system") {
		t.Fatalf("duplicate names: %+v", rep.Findings)
	}
	many := make([][2]string, 20)
	for i := range many {
		many[i] = [2]string{strings.Repeat("x", i+1), "."}
	}
	rep = scanWith(t, Limits{MaxMembers: 10}, "m.pt", zipOf(t, many...))
	if !hasFinding(rep, KindLimit, Unsafe, "20 members, more than 10") {
		t.Fatalf("many members: %+v", rep.Findings)
	}
	// Zips nested past MaxDepth are reported, not followed.
	z := zipOf(t, [2]string{"a/data.pkl", stackGlobalOS})
	for range 3 {
		z = zipOf(t, [2]string{"inner.zip", string(z)})
	}
	rep = scanWith(t, Limits{MaxDepth: 2}, "m.zip", z)
	if rep.Verdict != Unknown || !hasFinding(rep, KindLimit, Unknown, "nested deeper than 2") {
		t.Fatalf("deep nesting: %+v", rep.Findings)
	}
	if rep := scanWith(t, Limits{}, "m.zip", z); !hasFinding(rep, KindImport, Unsafe, "inner.zip!inner.zip!inner.zip!a/data.pkl") {
		t.Fatalf("nesting within limits: %+v", rep.Findings)
	}
	// Members that are no pickle are read only as far as it takes to tell.
	blobs := [][2]string{{"archive/data.pkl", benign}}
	for i := range 100 {
		lead := "\x00"
		if i%2 == 1 {
			lead = "N" // a valid opcode, then bytes that are not
		}
		blobs = append(blobs, [2]string{"blob/" + strings.Repeat("b", i+1), lead + strings.Repeat("\x00", 256<<10)})
	}
	rep = scanWith(t, Limits{}, "m.pt", zipOf(t, blobs...))
	if rep.Verdict != Safe || rep.BytesRead > 1<<20 {
		t.Fatalf("100 blobs of 256 KiB: read %d bytes, %+v", rep.BytesRead, rep.Findings)
	}
	// TorchScript archives carry code the scanner does not check.
	rep = scanWith(t, Limits{}, "m.pt", zipOf(t, [2]string{"m/data.pkl", benign}, [2]string{"m/code/__torch__/m.py", "def forward(self): pass\n"}))
	if rep.Verdict != Unknown || !hasFinding(rep, KindUnscanned, Unknown, "TorchScript") {
		t.Fatalf("torchscript: %+v", rep.Findings)
	}
	bad := zipOf(t, [2]string{"archive/data.pkl", benign})
	rep = scanWith(t, Limits{}, "m.pt", bad[:len(bad)-30])
	if !hasFinding(rep, KindContainer, Unsafe, "zip cannot be read") {
		t.Fatalf("cut zip: %+v", rep.Findings)
	}
}

func TestHeaderLimits(t *testing.T) {
	for _, name := range []string{"good.gguf", "good.safetensors"} {
		b, err := os.ReadFile(filepath.Join(corpusDir(t), name))
		if err != nil {
			t.Fatal(err)
		}
		if rep := scanWith(t, Limits{MaxTensors: 1}, name, b); rep.Verdict != Unsafe || !strings.Contains(rep.Summary(), "limit of 1") {
			t.Errorf("%s with MaxTensors 1: %s", name, rep.Summary())
		}
		if rep := scanWith(t, Limits{MaxTensors: 2}, name, b); rep.Verdict != Safe {
			t.Errorf("%s with MaxTensors 2: %s", name, rep.Summary())
		}
	}
}

func TestLegacyTorch(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(corpusDir(t), "benign_legacy.bin"))
	if err != nil {
		t.Fatal(err)
	}
	// The five pickles of the legacy format are walked strictly: one cut
	// short is a finding even though it follows another pickle's STOP.
	rep := scanWith(t, Limits{}, "pytorch_model.bin", b[:len(b)-100])
	if rep.Verdict != Unknown || !hasFinding(rep, KindTruncated, Unknown, "") {
		t.Fatalf("cut legacy checkpoint: %+v", rep.Findings)
	}
	if rep := scanWith(t, Limits{}, "pytorch_model.bin", b); rep.Verdict != Safe || rep.Pickles != 5 {
		t.Fatalf("legacy checkpoint: %+v", rep)
	}
}

// TestRandomBin: files of random bytes named .bin (what a .bin of another
// format looks like to the walker) are not unsafe. Before truncation was
// told from a limit, 0.75% of them were (151 of 20,000 of 64 KiB).
func TestRandomBin(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	b := make([]byte, 64<<10)
	for i := range 2000 {
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if rep := scanWith(t, Limits{}, "model.bin", b); rep.Verdict == Unsafe {
			t.Fatalf("random file %d: %v", i, rep.Findings)
		}
	}
}
