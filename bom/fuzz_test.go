package bom

import (
	"encoding/json"
	"testing"
)

// FuzzParseCard: any README parses or fails without panicking, within the
// bounds, and whatever parses builds a BOM that is valid JSON.
func FuzzParseCard(f *testing.F) {
	f.Add([]byte(readme))
	f.Add([]byte("---\nlicense: [mit, other]\nlicense_name: x\ndatasets: a/b\n---\n"))
	f.Add([]byte("---\na: &a [1]\nb: [*a, *a]\n---\n"))
	f.Add([]byte("---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, m, err := ParseCard(data)
		if err != nil {
			return
		}
		if len(c.Tags) > maxListItems || len(c.Datasets) > maxListItems || len(c.PipelineTag) > maxStringLen {
			t.Fatalf("unbounded card %+v", c)
		}
		out, err := Build(Input{Repo: "a/b", Revision: "r", Card: m})
		if err != nil || !json.Valid(out) {
			t.Fatalf("build: %v", err)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"architectures":["X"],"model_type":"llama","quantization_config":{"bits":4}}`))
	f.Add([]byte(`{"quantization_config":{"load_in_8bit":true}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := ParseConfig(data); err == nil && len(c.Architectures) > maxListItems {
			t.Fatalf("unbounded config %+v", c)
		}
	})
}
