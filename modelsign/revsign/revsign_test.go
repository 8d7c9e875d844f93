package revsign

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadTrustNamesTheFile: a file that is no PEM key or certificate is
// an error naming it; a missing one is an error; none configured is none.
func TestLoadTrustNamesTheFile(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not a pem file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeys([]string{bad}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("LoadKeys(bad) = %v, want an error naming %s", err, bad)
	}
	if _, err := LoadRoots([]string{bad}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("LoadRoots(bad) = %v, want an error naming %s", err, bad)
	}
	if _, err := LoadKeys([]string{bad + ".missing"}); err == nil {
		t.Error("LoadKeys of a missing file did not fail")
	}
	if k, err := LoadKeys(nil); err != nil || k != nil {
		t.Errorf("LoadKeys(nil) = %v, %v", k, err)
	}
}
