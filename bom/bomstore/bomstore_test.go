package bomstore

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store/storetest"
)

// TestBuildReadsStoredFacts: the card's licence, config.json's model type
// and every file's sha256 come from the stored bytes.
func TestBuildReadsStoredFacts(t *testing.T) {
	st := storetest.Open(t)
	m := &manifest.Manifest{Version: manifest.Version, Type: manifest.Model, Repo: "acme/tiny", Commit: "0123456789abcdef0123456789abcdef01234567"}
	for _, f := range []struct {
		path string
		data []byte
	}{
		{"README.md", []byte("---\nlicense: mit\npipeline_tag: text-generation\n---\n# tiny\n")},
		{"config.json", []byte(`{"model_type":"llama","architectures":["LlamaForCausalLM"]}`)},
		{"weights.bin", storetest.Bytes(3, 100<<10)},
	} {
		r, err := chunker.ImportFile(t.Context(), st, bytes.NewReader(f.data), int64(len(f.data)), f.path, chunker.Options{})
		if err != nil {
			t.Fatal(err)
		}
		m.Files = append(m.Files, manifest.File{Path: f.path, Size: r.Size, SHA256: hex.EncodeToString(r.SHA256[:]), CID: r.CID})
	}
	b, err := Build(t.Context(), st, m, Sources{Upstream: "https://huggingface.co"})
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, want := range []string{`"MIT"`, "llama", "LlamaForCausalLM", "text-generation", m.Files[2].SHA256} {
		if !strings.Contains(doc, want) {
			t.Errorf("BOM lacks %s:\n%s", want, doc)
		}
	}
	if strings.Contains(doc, "cairn:upstream") {
		t.Error("a revision the gate never checked via mirror names an upstream")
	}
}
