package hfapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/manifest"
)

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"/acme/tiny/resolve/main/config.json",
		"/datasets/acme/data/resolve/refs%2Fconvert%2Fparquet/default/train/0000.parquet",
		"/acme/tiny/resolve/refs/pr/1/sub/x.txt",
		"/api/models/acme/tiny/revision/HEAD",
		"/api/models/acme/tiny/tree/main/sub",
		"/api/datasets/acme/data/tree/refs/pr/3",
		"/api/models/acme/tiny/paths-info/refs%2Fpr%2F1",
		"/api/models", "/api/whoami-v2", "/api/models/acme/tiny/refs",
		"/acme/tiny/resolve/main/%2E%2E/x", "/acme/tiny/resolve/%zz/x", "/gpt2/resolve/main/config.json",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		r, err := ParsePath(p)
		if err != nil {
			if !errors.Is(err, errBadPath) {
				t.Fatalf("ParsePath(%q) error %v does not wrap errBadPath", p, err)
			}
			return
		}
		if r.Op == OpNone {
			return
		}
		if r.Op != OpList && r.Op != OpWhoami && r.Repo == "" {
			t.Fatalf("ParsePath(%q) = %+v: no repo", p, r)
		}
		if r.Kind != "" && r.Kind != manifest.Model && r.Kind != manifest.Dataset {
			t.Fatalf("ParsePath(%q) kind %q", p, r.Kind)
		}
		if r.Path != "" {
			if err := manifest.ValidatePath(r.Path); err != nil {
				t.Fatalf("ParsePath(%q) path %q: %v", p, r.Path, err)
			}
		}
		if (r.Op == OpResolve || r.Op == OpRaw) && r.Path == "" {
			t.Fatalf("ParsePath(%q) = %+v: file route without a path", p, r)
		}
		if r.Rev != "" {
			if err := checkRev(r.Rev); err != nil {
				t.Fatalf("ParsePath(%q) revision %q: %v", p, r.Rev, err)
			}
		}
		for _, s := range []string{r.Repo, r.Rev, r.Path} {
			for _, e := range strings.Split(s, "/") {
				if e == ".." {
					t.Fatalf("ParsePath(%q) = %+v holds ..", p, r)
				}
			}
		}
	})
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=5-", "bytes=-5", "bytes=3-2", "bytes=0-1,2-3", "items=0-1", "bytes=-0", "bytes= 1 - 2"} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		a, b, err := parseRange(h, size)
		if err != nil {
			return
		}
		if a < 0 || b < a || b >= size {
			t.Fatalf("parseRange(%q, %d) = %d-%d: outside the file", h, size, a, b)
		}
	})
}
