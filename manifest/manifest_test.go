package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

func testCID(t testing.TB, s string) cid.Cid {
	t.Helper()
	mh, err := multihash.Sum([]byte(s), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, mh)
}

func sample(t testing.TB) *Manifest {
	sum := sha256.Sum256([]byte("x"))
	m := &Manifest{
		Version: Version, Type: Model, Repo: "acme/llama-tiny",
		Created: time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC),
		Root:    testCID(t, "root"),
		Files: []File{
			{Path: "model.safetensors", Size: 1 << 30, SHA256: hex.EncodeToString(sum[:]), BlobID: strings.Repeat("b", 40), LFS: true, CID: testCID(t, "m")},
			{Path: "config.json", Size: 12, SHA256: hex.EncodeToString(sum[:]), BlobID: strings.Repeat("a", 40), CID: testCID(t, "c")},
		},
	}
	m.Sort()
	c, err := m.DeriveCommit()
	if err != nil {
		t.Fatal(err)
	}
	m.Commit = c
	return m
}

func TestRoundTrip(t *testing.T) {
	m := sample(t)
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode(Encode(m)) error: %v", err)
	}
	again, _ := got.Encode()
	if string(again) != string(b) {
		t.Fatalf("re-encode = %s, want %s", again, b)
	}
	if !got.Created.Equal(m.Created.Truncate(time.Millisecond)) {
		t.Errorf("Created = %v, want %v", got.Created, m.Created)
	}
	if f, ok := got.File("config.json"); !ok || f.Size != 12 {
		t.Errorf("File(config.json) = %+v, %v", f, ok)
	}
}

func TestDeriveCommitIgnoresTimeAndSignatures(t *testing.T) {
	a := sample(t)
	b := sample(t)
	b.Created = b.Created.Add(time.Hour)
	b.Signatures = []Signature{{Key: "k", Sig: []byte{1}}}
	ca, _ := a.DeriveCommit()
	cb, _ := b.DeriveCommit()
	if ca != cb {
		t.Errorf("DeriveCommit differs with time/signature: %s vs %s", ca, cb)
	}
	b.Files[0].Size++
	cc, _ := b.DeriveCommit()
	if cc == ca {
		t.Errorf("DeriveCommit unchanged after size change")
	}
}

func TestDecodeRejects(t *testing.T) {
	good, err := sample(t).Encode()
	if err != nil {
		t.Fatal(err)
	}
	s := string(good)
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"not canonical whitespace", " " + s, ErrNotCanon},
		{"unknown field", strings.Replace(s, `{"version":1`, `{"x":1,"version":1`, 1), ErrInvalid},
		{"bad repo", strings.Replace(s, "acme/llama-tiny", "../x", 1), ErrRepoName},
		{"bad path", strings.Replace(s, "config.json", "../config.json", 1), ErrPath},
		{"bad commit", strings.Replace(s, `"commit":"`, `"commit":"X`, 1), ErrCommitHex},
		{"trailing", s + "{}", ErrInvalid},
		{"not json", "nope", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in))
			if !errors.Is(err, tt.want) {
				t.Errorf("Decode = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestValidateRepo(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"acme/model", true}, {"TheBloke/Llama-2-7B-GGUF", true}, {"a/b.c_d-e", true},
		{"", false}, {"../x", false}, {"acme", false}, {"a/b/c", false}, {"a/.b", false},
		{"a/b-", false}, {"a/" + strings.Repeat("x", 97), false}, {"a/b c", false}, {"a/b..c", false},
	}
	for _, tt := range tests {
		if err := ValidateRepo(tt.in); (err == nil) != tt.ok {
			t.Errorf("ValidateRepo(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

func TestValidatePath(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"a", true}, {"dir/b.json", true}, {"", false}, {"/abs", false}, {"a/../b", false},
		{"a//b", false}, {"./a", false}, {"a/", false}, {"a\\b", false}, {"\xff", false},
	}
	for _, tt := range tests {
		if err := ValidatePath(tt.in); (err == nil) != tt.ok {
			t.Errorf("ValidatePath(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

func TestFileAndDirectoryConflict(t *testing.T) {
	m := sample(t)
	f := m.Files[0]
	f.Path = "config.json/x"
	m.Files = append(m.Files, f)
	m.Sort()
	if err := m.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("Validate = %v, want ErrInvalid", err)
	}
}

func TestGitBlobID(t *testing.T) {
	// git hash-object of an empty file and of "hello\n" are well known.
	tests := map[string]string{
		"":        "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
		"hello\n": "ce013625030ba8dba906f756967f9e9ca394464a",
	}
	for in, want := range tests {
		if got := GitBlobID([]byte(in)); got != want {
			t.Errorf("GitBlobID(%q) = %s, want %s", in, got, want)
		}
		h := NewBlobHash(int64(len(in)))
		h.Write([]byte(in))
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			t.Errorf("NewBlobHash(%q) = %s, want %s", in, got, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	good, err := sample(f).Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1,"type":"model","repo":"a/b","files":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		again, err := m.Encode()
		if err != nil {
			t.Fatalf("decoded manifest does not encode: %v", err)
		}
		if string(again) != string(b) {
			t.Fatalf("Decode accepted non-canonical bytes")
		}
	})
}
