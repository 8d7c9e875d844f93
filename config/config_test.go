package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The config file `cairn init` writes spells out exactly the defaults.
func TestDefaultConfigFileIsTheDefaults(t *testing.T) {
	got, err := Parse([]byte(DefaultYAML))
	if err != nil {
		t.Fatalf("Parse(default file) = %v", err)
	}
	got = got.WithDefaults()
	want := Config{}.WithDefaults()
	want.Replication = want.Replication.WithDefaults()
	got.Replication = got.Replication.WithDefaults()
	// %+v prints a nil and an empty list alike: both mean none here.
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("default file parses to\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseConfigRejects(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"nope: 1\n", "nope"},
		{"http:\n  addr: nonsense\n", "http.addr"},
		{"upstream:\n  endpoint: ftp://x\n", "upstream.endpoint"},
		{"inference:\n  keep_alive: forever\n", "duration"},
		{"inference:\n  weights: mlock\n", "inference.weights"},
		{"replication:\n  grace: -1s\n", "grace"},
		{"provenance:\n  publishers: [xyz]\n", "publishers[0]"},
	} {
		_, err := Parse([]byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want error naming %q", tt.yaml, err, tt.want)
		}
	}
}

// inference.max_loaded_models: written out by `cairn init` as its default
// (3), applied when absent, read back as set, and refused when negative.
func TestMaxLoadedModelsConfig(t *testing.T) {
	c, err := Parse([]byte(DefaultYAML))
	if err != nil {
		t.Fatal(err)
	}
	if c.Inference.MaxLoadedModels != DefaultMaxLoaded || DefaultMaxLoaded != 3 {
		t.Errorf("default file: max_loaded_models = %d, want 3", c.Inference.MaxLoadedModels)
	}
	c, err = Parse([]byte("inference:\n  queue: 4\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.WithDefaults().Inference.MaxLoadedModels; got != 3 {
		t.Errorf("absent: max_loaded_models = %d after defaults, want 3", got)
	}
	c, err = Parse([]byte("inference:\n  max_loaded_models: 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Inference.MaxLoadedModels != 5 {
		t.Fatalf("max_loaded_models: 5 parsed as %d", c.Inference.MaxLoadedModels)
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "max_loaded_models: 5") {
		t.Errorf("marshalled config lacks max_loaded_models: 5:\n%s", b)
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse(marshalled) = %v\n%s", err, b)
	}
	if back.Inference.MaxLoadedModels != 5 {
		t.Errorf("round trip: max_loaded_models = %d, want 5", back.Inference.MaxLoadedModels)
	}
	_, err = Parse([]byte("inference:\n  max_loaded_models: -1\n"))
	if err == nil || !strings.Contains(err.Error(), "inference.max_loaded_models -1: must not be negative") {
		t.Errorf("max_loaded_models: -1 = %v, want an error naming inference.max_loaded_models", err)
	}
}

func TestLoadCluster(t *testing.T) {
	for _, tt := range []struct {
		name, yaml, err string
	}{
		{"empty", "", ""},
		{"full", "replication:\n  grace: 2s\n  interval: 1s\n  replicas: 3\n  capacity: 1000\nprovenance:\n  require_signed: true\n", ""},
		{"unknown key", "replication:\n  nope: 1\n", "nope"},
		{"negative grace", "replication:\n  grace: -1s\n", "grace"},
		{"bad publisher", "provenance:\n  publishers: [xyz]\n", "publishers[0]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadCluster(p)
			if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("LoadCluster(%q) = %v, want error naming %q", tt.yaml, err, tt.err)
			}
		})
	}
}

func TestRateConfig(t *testing.T) {
	c, err := Parse([]byte("p2p:\n  max_upload_rate: 16MiB\n  max_download_rate: 100MB/s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if up, down, err := c.P2P.Rates(); err != nil || up != 16<<20 || down != 100e6 {
		t.Fatalf("Rates = %d, %d, %v", up, down, err)
	}
	for _, bad := range []string{"fast", "-1MiB"} {
		if _, err := Parse([]byte("p2p:\n  max_upload_rate: " + bad + "\n")); err == nil || !strings.Contains(err.Error(), "p2p.max_upload_rate") {
			t.Errorf("max_upload_rate %q: err %v, want one naming the field", bad, err)
		}
	}
}
