package bom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Bounds on untrusted model card and config.json input.
const (
	MaxFrontMatter = 64 << 10
	MaxConfigJSON  = 1 << 20
	maxListItems   = 256
	maxStringLen   = 512
)

// Card is what the BOM takes from a Hugging Face model card's YAML front
// matter. Fields the Hub allows as a string or a list are always lists.
type Card struct {
	License     []string // Hub licence ids, e.g. "apache-2.0", "llama3.2", "other"
	LicenseName string   // license_name, set with License "other"
	LicenseLink string   // license_link
	Datasets    []string
	BaseModel   []string
	PipelineTag string
	Tags        []string
	Language    []string
	LibraryName string
}

// ParseCard reads the YAML front matter at the top of a README.md (between
// "---" lines). It returns the front matter as a map too, for Input.Card. A
// README without front matter gives an empty Card and no error.
func ParseCard(readme []byte) (Card, map[string]any, error) {
	fm, ok, err := frontMatter(readme)
	if err != nil || !ok {
		return Card{}, nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(fm, &m); err != nil {
		return Card{}, nil, fmt.Errorf("model card front matter: %w", err)
	}
	return CardFromMap(m), m, nil
}

// frontMatter cuts the YAML between the opening and closing "---" lines.
func frontMatter(readme []byte) ([]byte, bool, error) {
	s := bytes.TrimPrefix(readme, []byte("\xef\xbb\xbf"))
	s = bytes.ReplaceAll(s[:min(len(s), MaxFrontMatter+8)], []byte("\r\n"), []byte("\n"))
	if !bytes.HasPrefix(s, []byte("---\n")) {
		return nil, false, nil
	}
	body := s[4:]
	if bytes.HasPrefix(body, []byte("---")) {
		return nil, false, nil // empty front matter
	}
	end := bytes.Index(body, []byte("\n---"))
	if end < 0 {
		if len(readme) > MaxFrontMatter {
			return nil, false, fmt.Errorf("model card front matter longer than %d bytes", MaxFrontMatter)
		}
		return nil, false, errors.New("model card front matter is not closed by ---")
	}
	return body[:end+1], true, nil
}

// CardFromMap extracts the Card fields from parsed front matter; values of
// the wrong type are ignored.
func CardFromMap(m map[string]any) Card {
	return Card{
		License:     strList(m["license"]),
		LicenseName: str(m["license_name"]),
		LicenseLink: str(m["license_link"]),
		Datasets:    strList(m["datasets"]),
		BaseModel:   strList(m["base_model"]),
		PipelineTag: str(m["pipeline_tag"]),
		Tags:        strList(m["tags"]),
		Language:    strList(m["language"]),
		LibraryName: str(m["library_name"]),
	}
}

func str(v any) string {
	s, ok := v.(string)
	if !ok {
		return ""
	}
	s = strings.TrimSpace(s)
	if len(s) > maxStringLen {
		s = s[:maxStringLen]
	}
	return s
}

func strList(v any) []string {
	var out []string
	switch v := v.(type) {
	case string:
		if s := str(v); s != "" {
			out = append(out, s)
		}
	case []any:
		for _, e := range v[:min(len(v), maxListItems)] {
			if s := str(e); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// Config is what the BOM takes from a transformers config.json.
type Config struct {
	Architectures []string // e.g. LlamaForCausalLM
	ModelType     string   // e.g. llama
	TorchDType    string   // e.g. bfloat16
	Quantization  string   // quantization_config: quant_method and bits, e.g. "gptq 4-bit"
}

// ParseConfig reads a transformers config.json.
func ParseConfig(data []byte) (Config, error) {
	if len(data) > MaxConfigJSON {
		return Config{}, fmt.Errorf("config.json of %d bytes exceeds %d", len(data), MaxConfigJSON)
	}
	var raw struct {
		Architectures []any          `json:"architectures"`
		ModelType     any            `json:"model_type"`
		TorchDType    any            `json:"torch_dtype"`
		Quant         map[string]any `json:"quantization_config"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, fmt.Errorf("config.json: %w", err)
	}
	c := Config{Architectures: strList(raw.Architectures), ModelType: str(raw.ModelType), TorchDType: str(raw.TorchDType)}
	if raw.Quant != nil {
		c.Quantization = str(raw.Quant["quant_method"])
		if bits, ok := raw.Quant["bits"].(float64); ok && bits > 0 && bits <= 64 {
			c.Quantization = strings.TrimSpace(fmt.Sprintf("%s %d-bit", c.Quantization, int(bits)))
		} else if raw.Quant["load_in_4bit"] == true {
			c.Quantization = strings.TrimSpace(c.Quantization + " 4-bit")
		} else if raw.Quant["load_in_8bit"] == true {
			c.Quantization = strings.TrimSpace(c.Quantization + " 8-bit")
		}
	}
	return c, nil
}
