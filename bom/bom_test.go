package bom

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/internal/fixture"
)

const readme = "---\r\nlicense: apache-2.0\r\ndatasets:\r\n- roneneldan/TinyStories\r\nbase_model: karpathy/tinyllamas\r\npipeline_tag: text-generation\r\ntags: [llama, gguf]\r\nlanguage: en\r\nlibrary_name: gguf\r\n---\r\n# stories260K\n"

func sum(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

// fullInput fills every part of Input from the repository's GGUF fixture.
func fullInput(t *testing.T) Input {
	t.Helper()
	path := fixture.Path(t, fixture.Model)
	gf, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gf.Close() })
	_, card, err := ParseCard([]byte(readme))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	g := GGUFFacts("stories260K.gguf", gf)
	return Input{
		Repo: "karpathy/stories260K", Revision: "0123abcd",
		Files: []File{
			{Path: "stories260K.gguf", SHA256: "047bf46455a544931cff6fef14d7910154c56afbc23ab1c5e56a72e69912c04b", Size: 1185376, Scan: &FileScan{Verdict: "safe"}},
			{Path: "README.md", SHA256: sum(readme), Size: int64(len(readme))},
			{Path: "pytorch_model.bin", SHA256: sum("pkl"), Scan: &FileScan{Verdict: "unsafe", Findings: []string{"os.system", "builtins.exec"}}},
		},
		Card:     card,
		GGUF:     &g,
		Config:   &Config{Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama", TorchDType: "float32"},
		Licenses: []License{{ID: "MIT", Source: "LICENSE"}, {ID: "llama3.2", URL: "https://www.llama.com/llama3_2/license/"}},
		Scan:     &Scan{Verdict: "unsafe", Policy: "block", Scanner: "cairn-pickle/1", Time: at, Quarantined: true, Reason: "pytorch_model.bin: os.system"},
		Signatures: []Signature{
			{Format: "openssf-model-signing", Method: "certificate", Signer: "ml@acme.example", Issuer: "CN=acme", File: "model.sig", Verified: true},
			{Format: "cairn", Method: "key", Signer: "org:karpathy", Verified: true},
		},
		Upstream:    &Upstream{URL: "https://huggingface.co/karpathy/stories260K", Revision: "fedcba98", MirroredAt: at},
		Holders:     []Holder{{Peer: "12D3KooWA", Jurisdiction: "DE"}, {Peer: "12D3KooWB", Jurisdiction: "FR"}, {Peer: "12D3KooWC", Jurisdiction: "DE"}},
		Time:        at,
		ToolVersion: "0.9.0",
	}
}

// doc is the decoded BOM, loosely typed as a consumer would read it.
type bomDoc struct {
	BOMFormat, SpecVersion, SerialNumber string
	Metadata                             struct {
		Timestamp string
		Tools     struct {
			Components []struct{ Name, Version string }
		}
	}
	Components []struct {
		Type, Name, Group, Version, Purl string
		BOMRef                           string `json:"bom-ref"`
		Hashes                           []struct{ Alg, Content string }
		Licenses                         []struct {
			License struct{ ID, Name, URL string }
		}
		ExternalReferences []struct{ Type, URL, Comment string }
		ModelCard          *struct {
			ModelParameters struct {
				Task, ArchitectureFamily, ModelArchitecture string
				Datasets                                    []struct{ Type, Name string }
			}
			Properties []property
		}
		Properties []property
	}
	Dependencies []struct {
		Ref       string
		DependsOn []string
	}
}

func props2map(ps []property) map[string][]string {
	m := map[string][]string{}
	for _, p := range ps {
		m[p.Name] = append(m[p.Name], p.Value)
	}
	return m
}

func TestBuild(t *testing.T) {
	out, err := Build(fullInput(t))
	if err != nil {
		t.Fatal(err)
	}
	var d bomDoc
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	if d.BOMFormat != "CycloneDX" || d.SpecVersion != "1.6" || !strings.HasPrefix(d.SerialNumber, "urn:uuid:") ||
		d.Metadata.Timestamp != "2026-12-01T10:00:00Z" || d.Metadata.Tools.Components[0].Name != "cairn" {
		t.Fatalf("header %+v", d)
	}
	m := d.Components[0]
	if m.Type != "machine-learning-model" || m.Group != "karpathy" || m.Name != "stories260K" ||
		m.Purl != "pkg:huggingface/karpathy/stories260K@0123abcd" {
		t.Fatalf("model %+v", m)
	}
	mp := m.ModelCard.ModelParameters
	if mp.Task != "text-generation" || mp.ArchitectureFamily != "llama" || mp.ModelArchitecture != "LlamaForCausalLM" ||
		len(mp.Datasets) != 1 || mp.Datasets[0].Name != "roneneldan/TinyStories" {
		t.Fatalf("model parameters %+v", mp)
	}
	card := props2map(m.ModelCard.Properties)
	// The fixture is all F32 with 260K parameters (README of testdata).
	if card["cairn:model:quantization"][0] != "F32" || card["cairn:model:parameter-count"][0] != "292800" ||
		card["cairn:model:base-model"][0] != "karpathy/tinyllamas" || card["cairn:model:language"][0] != "en" {
		t.Fatalf("model card properties %v", card)
	}
	var lic []string
	for _, l := range m.Licenses {
		lic = append(lic, l.License.ID+"|"+l.License.Name)
	}
	if strings.Join(lic, ",") != "MIT|,|llama3.2,Apache-2.0|" {
		t.Fatalf("licences %v", lic)
	}
	p := props2map(m.Properties)
	want := map[string]string{
		"cairn:scan:verdict": "unsafe", "cairn:scan:policy": "block", "cairn:quarantine:state": "quarantined",
		"cairn:upstream:mirrored-at": "2026-12-01T10:00:00Z", "cairn:upstream:revision": "fedcba98",
		"cairn:signature:1:signer": "ml@acme.example", "cairn:signature:2:format": "cairn", "cairn:replica:count": "3",
	}
	for k, v := range want {
		if len(p[k]) != 1 || p[k][0] != v {
			t.Errorf("%s = %v, want %s", k, p[k], v)
		}
	}
	if strings.Join(p["cairn:replica:jurisdiction"], ",") != "DE,FR" {
		t.Errorf("jurisdictions %v", p["cairn:replica:jurisdiction"])
	}
	if m.ExternalReferences[0].Type != "distribution" || !strings.Contains(m.ExternalReferences[0].Comment, "2026-12-01") {
		t.Errorf("upstream reference %+v", m.ExternalReferences)
	}
	if len(d.Components) != 4 || d.Components[1].Name != "README.md" || d.Components[3].Hashes[0].Alg != "SHA-256" ||
		d.Components[3].Hashes[0].Content != "047bf46455a544931cff6fef14d7910154c56afbc23ab1c5e56a72e69912c04b" {
		t.Fatalf("files %+v", d.Components[1:])
	}
	if f := props2map(d.Components[2].Properties); strings.Join(f["cairn:scan:finding"], ",") != "os.system,builtins.exec" {
		t.Errorf("pickle findings %v", f)
	}
	if len(d.Dependencies) != 1 || len(d.Dependencies[0].DependsOn) != 3 || d.Dependencies[0].Ref != m.BOMRef {
		t.Errorf("dependencies %+v", d.Dependencies)
	}
	again, _ := Build(fullInput(t))
	if string(again) != string(out) {
		t.Error("same input built two different BOMs")
	}
}

func TestBuildDataset(t *testing.T) {
	out, err := Build(Input{Repo: "acme/corpus", Revision: "r1", Kind: "dataset",
		Files: []File{{Path: "train.parquet", SHA256: sum("t")}}, Card: map[string]any{"license": "odbl"}})
	if err != nil {
		t.Fatal(err)
	}
	var d bomDoc
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	if d.Components[0].Type != "data" || d.Components[0].ModelCard != nil || d.Components[0].Licenses[0].License.ID != "ODbL-1.0" {
		t.Fatalf("dataset %s", out)
	}
}

func TestValidate(t *testing.T) {
	for name, in := range map[string]Input{
		"repo":      {Repo: "x", Revision: "r"},
		"deep repo": {Repo: "a/b/c", Revision: "r"},
		"revision":  {Repo: "a/b"},
		"kind":      {Repo: "a/b", Revision: "r", Kind: "space"},
		"digest":    {Repo: "a/b", Revision: "r", Files: []File{{Path: "f", SHA256: "abc"}}},
		"duplicate": {Repo: "a/b", Revision: "r", Files: []File{{Path: "f", SHA256: sum("")}, {Path: "f", SHA256: sum("")}}},
	} {
		if _, err := Build(in); err == nil {
			t.Errorf("%s: built", name)
		}
	}
}

func TestParseCard(t *testing.T) {
	c, m, err := ParseCard([]byte(readme))
	if err != nil || m == nil {
		t.Fatal(err)
	}
	if strings.Join(c.License, ",") != "apache-2.0" || c.Datasets[0] != "roneneldan/TinyStories" || c.BaseModel[0] != "karpathy/tinyllamas" ||
		c.PipelineTag != "text-generation" || strings.Join(c.Tags, ",") != "llama,gguf" || c.Language[0] != "en" {
		t.Fatalf("card %+v", c)
	}
	other, _, err := ParseCard([]byte("\xef\xbb\xbf---\nlicense: other\nlicense_name: llama3.2\nlicense_link: LICENSE\nlanguage: [en, de]\ntags: 7\n---\n"))
	if err != nil || other.LicenseName != "llama3.2" || len(other.Language) != 2 || other.Tags != nil {
		t.Fatalf("card %+v %v", other, err)
	}
	for name, in := range map[string]string{"none": "# title\n", "empty": "---\n---\n", "no yaml": ""} {
		if c, _, err := ParseCard([]byte(in)); err != nil || c.License != nil {
			t.Errorf("%s: %+v %v", name, c, err)
		}
	}
	long := "---\nlicense: mit\n" + strings.Repeat("tags: x\n", MaxFrontMatter/8+1)
	for name, in := range map[string]string{
		"unclosed": "---\nlicense: mit\n", "bad yaml": "---\nlicense: [\n---\n", "too long": long,
		"alias bomb": "---\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n---\n",
	} {
		if _, _, err := ParseCard([]byte(in)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`{"architectures":["LlamaForCausalLM"],"model_type":"llama","torch_dtype":"bfloat16","quantization_config":{"quant_method":"gptq","bits":4}}`))
	if err != nil || c.Architectures[0] != "LlamaForCausalLM" || c.ModelType != "llama" || c.Quantization != "gptq 4-bit" {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := ParseConfig([]byte(`[1]`)); err == nil {
		t.Error("array parsed as config")
	}
}

func TestSPDXID(t *testing.T) {
	for hub, want := range map[string]string{"apache-2.0": "Apache-2.0", "cc-by-nc-4.0": "CC-BY-NC-4.0", "gpl-3.0": "GPL-3.0-only", "MIT": "MIT"} {
		if got, ok := SPDXID(hub); !ok || got != want {
			t.Errorf("SPDXID(%s) = %s, want %s", hub, got, want)
		}
	}
	if _, ok := SPDXID("llama3.2"); ok {
		t.Error("llama3.2 has no SPDX id")
	}
}

// TestSchema validates a built BOM, and a broken one, with the official
// CycloneDX 1.6 schema through e2e/bom/validate.mjs. It needs node and
// `npm ci` in e2e/bom (.ci/run does it); without them it fails, or skips
// with -short.
func TestSchema(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "e2e", "bom")
	missing := func(what string) {
		if testing.Short() {
			t.Skipf("-short: %s", what)
		}
		t.Fatalf("%s: the BOM cannot be checked against the CycloneDX schema", what)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@cyclonedx", "cyclonedx-library")); err != nil {
		missing("run `npm ci` in e2e/bom")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	out, err := Build(fullInput(t))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	good := filepath.Join(tmp, "bom.json")
	if err := os.WriteFile(good, out, 0o600); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command(node, filepath.Join(dir, "validate.mjs"), good).CombinedOutput(); err != nil {
		t.Fatalf("BOM does not validate: %v\n%s", err, msg)
	}
	bad := filepath.Join(tmp, "bad.json")
	broken := strings.Replace(string(out), `"alg": "SHA-256"`, `"alg": "SHA-257"`, 1)
	if err := os.WriteFile(bad, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	msg, err := exec.Command(node, filepath.Join(dir, "validate.mjs"), bad).CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "alg") {
		t.Fatalf("broken BOM accepted: %v\n%s", err, msg)
	}
}
