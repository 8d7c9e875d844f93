package cli

import (
	"io"
	"slices"
	"testing"
)

func TestInterspersed(t *testing.T) {
	app := New(io.Discard, io.Discard)
	tests := []struct{ in, want []string }{
		{[]string{"cairn", "add", "./m", "--repo", "a/b", "--json"}, []string{"cairn", "add", "--repo", "a/b", "--json", "--", "./m"}},
		{[]string{"cairn", "--home", "/h", "get", "a/b", "x", "--out", "o"}, []string{"cairn", "--home", "/h", "get", "--out", "o", "--", "a/b", "x"}},
		{[]string{"cairn", "ls"}, []string{"cairn", "ls"}},
		{[]string{"cairn", "get", "a/b", "--", "--weird"}, []string{"cairn", "get", "--", "a/b", "--weird"}},
	}
	for _, tt := range tests {
		if got := interspersed(app, tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("interspersed(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
