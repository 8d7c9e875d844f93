package scan

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/internal/fixture"
)

// corpusDir is the folder testdata/scan/gen.py writes.
func corpusDir(t testing.TB) string {
	t.Helper()
	return fixture.Path(t, "scan")
}

// corpusFiles lists the corpus files (gen.py, README.md and MANIFEST aside).
func corpusFiles(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir(t), "MANIFEST"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

type want struct {
	verdict Verdict
	format  Format
	// finding must be a substring of some finding's String(); empty for Safe.
	finding string
}

var corpus = map[string]want{
	"benign_numpy_p0.pkl":           {Safe, FormatPickle, ""},
	"benign_numpy_p2.pkl":           {Safe, FormatPickle, ""},
	"benign_numpy_p4.pkl":           {Safe, FormatPickle, ""},
	"benign_numpy_p5.pkl":           {Safe, FormatPickle, ""},
	"benign_torch_p2.pkl":           {Safe, FormatPickle, ""},
	"benign_torch_p4.pkl":           {Safe, FormatPickle, ""},
	"benign_torch_p5.pkl":           {Safe, FormatPickle, ""},
	"benign_torch.pt":               {Safe, FormatTorchZip, ""},
	"benign_torch_other_prefix.bin": {Safe, FormatTorchZip, ""},
	"benign_legacy.bin":             {Safe, FormatPickle, ""},
	"good.safetensors":              {Safe, FormatSafetensors, ""},
	"benign_gzip.pkl.gz":            {Safe, FormatPickle, ""},
	"good.gguf":                     {Safe, FormatGGUF, ""},

	"unknown_namespace.pkl": {Unknown, FormatPickle, "unknown import at 16: argparse.Namespace"},
	"unknown_ext.pkl":       {Unknown, FormatPickle, "extension code 1"},
	"trunc_benign.pkl":      {Unknown, FormatPickle, "unknown truncated"},
	"unknown_xz.joblib":     {Unknown, FormatPickle, "compressed with xz is not scanned"},

	"mal_os_system_p0.pkl":          {Unsafe, FormatPickle, "posix.system"},
	"mal_os_system_p2.pkl":          {Unsafe, FormatPickle, "posix.system"},
	"mal_os_system_p4.pkl":          {Unsafe, FormatPickle, "posix.system"},
	"mal_exec.pkl":                  {Unsafe, FormatPickle, "builtins.exec"},
	"mal_popen.pkl":                 {Unsafe, FormatPickle, "subprocess.Popen"},
	"mal_partial.pkl":               {Unsafe, FormatPickle, "posix.system"},
	"mal_getattr_eval.pkl":          {Unsafe, FormatPickle, "builtins.getattr"},
	"mal_memo_stack_global.pkl":     {Unsafe, FormatPickle, "os.system"},
	"mal_escaped_names.pkl":         {Unsafe, FormatPickle, "os.system"},
	"mal_rot13_name.pkl":            {Unsafe, FormatPickle, "unresolved-import"},
	"mal_build_on_global.pkl":       {Unsafe, FormatPickle, "BUILD sets attributes on an imported name"},
	"mal_nested_pickle.pkl":         {Unsafe, FormatPickle, "in @36 at 29: builtins.exec"},
	"mal_nested_pickle_p4.pkl":      {Unsafe, FormatPickle, "builtins.exec"},
	"mal_storage_bytes.pkl":         {Unsafe, FormatPickle, "@54!archive/data.pkl at 257: posix.system"},
	"trunc_malicious.pkl":           {Unsafe, FormatPickle, "posix.system"},
	"two_pickles.pkl":               {Unsafe, FormatPickle, "posix.system"},
	"mal_torch_data.pt":             {Unsafe, FormatTorchZip, "in archive/data.pkl at 257: posix.system"},
	"mal_torch_hidden_member.pt":    {Unsafe, FormatTorchZip, "in archive/.hidden/x.pkl at 2: posix.system"},
	"mal_torch_no_suffix.pt":        {Unsafe, FormatTorchZip, "in archive/extra/blob at 29: builtins.exec"},
	"mal_torch_proto0_member.ckpt":  {Unsafe, FormatTorchZip, "in archive/notes at 0: posix.system"},
	"mal_nested_zip.zip":            {Unsafe, FormatZip, "in inner/model.pt!archive/data.pkl at 257: posix.system"},
	"mal_object.npy":                {Unsafe, FormatNumpy, "posix.system"},
	"mal_joblib_after_array.joblib": {Unsafe, FormatPickle, "unsafe unscanned at 6: joblib.numpy_pickle.NumpyArrayWrapper: joblib writes numpy array bytes inline"},
	"mal_gzip.pkl.gz":               {Unsafe, FormatPickle, "in [gzip] at 2: posix.system"},
	"mal_zlib.joblib":               {Unsafe, FormatPickle, "builtins.exec"},

	"bad_overlap.safetensors":    {Unsafe, FormatSafetensors, `overlaps tensor "a"`},
	"bad_shape.safetensors":      {Unsafe, FormatSafetensors, "F32 [3 3] needs 36 bytes, data_offsets span 24"},
	"bad_past_end.safetensors":   {Unsafe, FormatSafetensors, "outside the data area"},
	"bad_header_len.safetensors": {Unsafe, FormatSafetensors, "header length 1099511627776 exceeds"},
	"bad_json.safetensors":       {Unsafe, FormatSafetensors, `tensor "a": unexpected EOF`},
	"bad_dtype.safetensors":      {Unsafe, FormatSafetensors, `unknown dtype "F31"`},
	"bad_overlap.gguf":           {Unsafe, FormatGGUF, `tensor "b" [`},
	"bad_misaligned.gguf":        {Unsafe, FormatGGUF, "not a multiple of the alignment"},
	"bad_past_end.gguf":          {Unsafe, FormatGGUF, "extends past the end of the file"},
	"bad_version.gguf":           {Unsafe, FormatGGUF, "unsupported version 7"},
	"bad_type.gguf":              {Unsafe, FormatGGUF, "unknown tensor type 99"},
}

func TestCorpus(t *testing.T) {
	files := corpusFiles(t)
	if len(files) != len(corpus) {
		t.Errorf("MANIFEST lists %d files, the table %d", len(files), len(corpus))
	}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			w, ok := corpus[name]
			if !ok {
				t.Fatalf("corpus file %s has no expectation in the table", name)
			}
			b, err := os.ReadFile(filepath.Join(corpusDir(t), name))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Bytes(context.Background(), name, b)
			if err != nil {
				t.Fatal(err)
			}
			var all []string
			for _, f := range rep.Findings {
				all = append(all, f.String())
			}
			if rep.Verdict != w.verdict || rep.Format != w.format {
				t.Errorf("verdict %s format %s, want %s %s; findings:\n%s", rep.Verdict, rep.Format, w.verdict, w.format, strings.Join(all, "\n"))
			}
			if w.finding == "" && len(rep.Findings) != 0 {
				t.Errorf("want no findings, got:\n%s", strings.Join(all, "\n"))
			}
			if w.finding != "" && !strings.Contains(strings.Join(all, "\n"), w.finding) {
				t.Errorf("no finding contains %q; findings:\n%s", w.finding, strings.Join(all, "\n"))
			}
		})
	}
}

// TestDifferential checks the walker against CPython's unpickler: for each
// random pickle in testdata/scan/diff, every name CPython's find_class was
// asked for (recorded by gen.py) is among the scanner's imports, and the
// scanner followed the pickle to its end.
func TestDifferential(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "diff")
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		File    string      `json:"file"`
		Imports [][2]string `json:"imports"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 100 {
		t.Fatalf("only %d differential cases", len(cases))
	}
	imports := 0
	for _, c := range cases {
		data, err := os.ReadFile(filepath.Join(dir, c.File))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Bytes(context.Background(), c.File, data)
		if err != nil {
			t.Fatal(err)
		}
		got := map[[2]string]bool{}
		for _, im := range rep.Imports {
			got[[2]string{im.Module, im.Name}] = true
		}
		for _, im := range c.Imports {
			imports++
			if !got[im] {
				t.Errorf("%s: CPython imported %s.%s, the scanner saw %+v", c.File, im[0], im[1], rep.Imports)
			}
		}
		for _, f := range rep.Findings {
			// Protocols 0–3 pickle a nested class as getattr(Outer, "Inner"):
			// an import of builtins.getattr and a call of its result.
			if f.Kind != KindImport && f.Kind != KindCall {
				t.Errorf("%s: %s", c.File, f)
			}
		}
	}
	if imports < 100 {
		t.Fatalf("only %d imports in the differential set", imports)
	}
}
