package node

import (
	"fmt"
	"strings"
	"testing"
)

// The config file `cairn init` writes spells out exactly the defaults.
func TestDefaultConfigFileIsTheDefaults(t *testing.T) {
	got, err := ParseConfig([]byte(defaultConfigYAML))
	if err != nil {
		t.Fatalf("ParseConfig(default file) = %v", err)
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
		{"replication:\n  grace: -1s\n", "grace"},
		{"provenance:\n  publishers: [xyz]\n", "publishers[0]"},
	} {
		_, err := ParseConfig([]byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseConfig(%q) = %v, want error naming %q", tt.yaml, err, tt.want)
		}
	}
}
