package hfapi

import (
	"errors"
	"net/http"
	"testing"

	"github.com/cairnhub/cairn/manifest"
)

func TestParsePath(t *testing.T) {
	M, D := manifest.Model, manifest.Dataset
	tests := []struct {
		in   string
		want Route
		bad  bool
	}{
		{in: "/acme/tiny/resolve/main/config.json", want: Route{OpResolve, M, "acme/tiny", "main", "config.json"}},
		{in: "/acme/tiny/raw/main/a/b.txt", want: Route{OpRaw, M, "acme/tiny", "main", "a/b.txt"}},
		{in: "/models/acme/tiny/resolve/HEAD/x", want: Route{OpResolve, M, "acme/tiny", "HEAD", "x"}},
		{in: "/datasets/acme/d/resolve/main/data/train.parquet", want: Route{OpResolve, D, "acme/d", "main", "data/train.parquet"}},
		{in: "/acme/tiny/resolve/refs%2Fpr%2F1/x", want: Route{OpResolve, M, "acme/tiny", "refs/pr/1", "x"}},
		{in: "/acme/tiny/resolve/refs/pr/1/x", want: Route{OpResolve, M, "acme/tiny", "refs/pr/1", "x"}},
		{in: "/acme/tiny/resolve/refs/x", want: Route{OpResolve, M, "acme/tiny", "refs", "x"}},
		{in: "/acme/tiny/resolve/main/a%20b.txt", want: Route{OpResolve, M, "acme/tiny", "main", "a b.txt"}},
		{in: "/acme/tiny/resolve/main/a%2Fb.txt", want: Route{OpResolve, M, "acme/tiny", "main", "a/b.txt"}},
		{in: "/gpt2/resolve/main/config.json", want: Route{OpResolve, M, "gpt2", "main", "config.json"}},
		{in: "/api/models/acme/tiny", want: Route{OpInfo, M, "acme/tiny", "", ""}},
		{in: "/api/models/acme/tiny/", want: Route{OpInfo, M, "acme/tiny", "", ""}},
		{in: "/api/models/gpt2", want: Route{OpInfo, M, "gpt2", "", ""}},
		{in: "/api/datasets/acme/d/revision/refs%2Fconvert%2Fparquet", want: Route{OpInfo, D, "acme/d", "refs/convert/parquet", ""}},
		{in: "/api/models/acme/tiny/revision/refs/pr/2", want: Route{OpInfo, M, "acme/tiny", "refs/pr/2", ""}},
		{in: "/api/models/acme/tiny/tree/main", want: Route{OpTree, M, "acme/tiny", "main", ""}},
		{in: "/api/models/acme/tiny/tree/main/", want: Route{OpTree, M, "acme/tiny", "main", ""}},
		{in: "/api/models/acme/tiny/tree/main/a/b", want: Route{OpTree, M, "acme/tiny", "main", "a/b"}},
		{in: "/api/models/acme/tiny/tree/refs/pr/1/a", want: Route{OpTree, M, "acme/tiny", "refs/pr/1", "a"}},
		{in: "/api/models/acme/tiny/tree/refs%2Fpr%2F1/a", want: Route{OpTree, M, "acme/tiny", "refs/pr/1", "a"}},
		{in: "/api/models/acme/tiny/paths-info/main", want: Route{OpPathsInfo, M, "acme/tiny", "main", ""}},
		{in: "/api/models/acme/tiny/refs", want: Route{OpRefs, M, "acme/tiny", "", ""}},
		{in: "/api/models", want: Route{OpList, M, "", "", ""}},
		{in: "/api/datasets/", want: Route{OpList, D, "", "", ""}},
		{in: "/api/whoami-v2", want: Route{Op: OpWhoami}},
		{in: "/", want: Route{}},
		{in: "/api", want: Route{}},
		{in: "/api/spaces/a/b", want: Route{}},
		{in: "/acme/tiny/blob/main/x", want: Route{}},
		{in: "/acme/tiny/resolve/main", want: Route{}},
		{in: "/acme//resolve/main/x", want: Route{}},
		{in: "/acme/tiny/resolve/main/%zz", bad: true},
		{in: "/acme/tiny/resolve/main/a%", bad: true},
		{in: "/acme/tiny/resolve/main/../x", bad: true},
		{in: "/acme/tiny/resolve/main/%2e%2e/x", bad: true},
		{in: "/acme/tiny/resolve/main/a%2F..%2Fb", bad: true},
		{in: "/acme/tiny/resolve/main/./x", bad: true},
		{in: "/acme/tiny/resolve/main/a//b", bad: true},
		{in: "/acme/tiny/resolve/main/a%00b", bad: true},
		{in: "/acme/tiny/resolve/main/%ff", bad: true},
		{in: "/acme/tiny/resolve/a..b/x", bad: true},
		{in: "/acme/tiny/resolve/a%3Ab/x", bad: true},
		{in: "/api/models/acme/tiny/revision/%2Fmain", bad: true},
		{in: "/api/models/acme/tiny/tree/main/a/../b", bad: true},
		{in: "acme/tiny/resolve/main/x", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePath(tc.in)
			if tc.bad {
				if !errors.Is(err, errBadPath) {
					t.Errorf("ParsePath(%q) = %+v, %v; want errBadPath", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParsePath(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		h           string
		size        int64
		first, last int64
		err         error
	}{
		{"bytes=0-0", 10, 0, 0, nil},
		{"bytes=0-", 10, 0, 9, nil},
		{"bytes=3-5", 10, 3, 5, nil},
		{"bytes=3-50", 10, 3, 9, nil},
		{"bytes=-3", 10, 7, 9, nil},
		{"bytes=-30", 10, 0, 9, nil},
		{"bytes=9-", 10, 9, 9, nil},
		{"bytes=10-", 10, 0, 0, errUnsatisfiable},
		{"bytes=0-0", 0, 0, 0, errUnsatisfiable},
		{"bytes=-0", 10, 0, 0, errUnsatisfiable},
		{"bytes=5-3", 10, 0, 0, errUnsatisfiable},
		{"bytes=a-3", 10, 0, 0, errUnsatisfiable},
		{"bytes=+1-3", 10, 0, 0, errUnsatisfiable},
		{"bytes=3", 10, 0, 0, errUnsatisfiable},
		{"bytes=0-1,3-4", 10, 0, 0, errMultiRange},
		{"items=0-1", 10, 0, 0, errIgnoreRange},
	}
	for _, tc := range tests {
		a, b, err := parseRange(tc.h, tc.size)
		if !errors.Is(err, tc.err) || err == nil && (a != tc.first || b != tc.last) {
			t.Errorf("parseRange(%q, %d) = %d, %d, %v; want %d, %d, %v", tc.h, tc.size, a, b, err, tc.first, tc.last, tc.err)
		}
	}
}

func TestPreflightAndQuery(t *testing.T) {
	f := newFixture(t, Options{Tokens: []Token{{Token: "t"}}})
	r := do(t, "OPTIONS", f.url+"/acme/tiny/resolve/main/config.json", map[string]string{"Origin": "http://app.example", "Access-Control-Request-Headers": "authorization,range"}, nil)
	// No origin is let in by the API itself (node's httpguard decides).
	if r.status != http.StatusNoContent || r.h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight = %d, allow-origin %q; want 204 and none", r.status, r.h.Get("Access-Control-Allow-Origin"))
	}
	// transformers.js and the Hub's web links add ?download=true.
	r = do(t, "GET", f.url+"/acme/tiny/resolve/main/config.json?download=true", map[string]string{"Authorization": "Bearer t"}, nil)
	if r.status != 200 || string(r.body) != string(f.files["config.json"]) {
		t.Errorf("GET ?download=true = %d %q, want 200 and the file", r.status, truncate(r.body))
	}
}
