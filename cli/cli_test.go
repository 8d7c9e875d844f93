package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run runs the cairn command line in-process against home.
func run(t *testing.T, home string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(t.Context(), append([]string{"cairn", "--home", home}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestRepoCommands(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	if code, _, errs := run(t, home, "init"); code != 0 {
		t.Fatalf("init exit %d: %s", code, errs)
	}
	cfg, _ := os.ReadFile(filepath.Join(home, "config.yaml"))
	if code, _, errs := run(t, home, "init"); code == 0 || !strings.Contains(errs, "exists already") {
		t.Fatalf("second init exit %d (%s), want refusal", code, errs)
	}
	if again, _ := os.ReadFile(filepath.Join(home, "config.yaml")); !bytes.Equal(again, cfg) {
		t.Fatal("second init changed config.yaml")
	}

	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "config.json"), []byte(`{"x":1}`), 0o644)
	big := bytes.Repeat([]byte("0123456789abcdef"), 200_000)
	os.WriteFile(filepath.Join(src, "data.bin"), big, 0o644)

	code, out, errs := run(t, home, "add", src, "--repo", "acme/m", "--json")
	if code != 0 {
		t.Fatalf("add exit %d: %s", code, errs)
	}
	var added struct {
		Repo, Revision, Commit, Root string
		Files                        int
		Bytes                        int64
		NewBytes                     int64 `json:"new_bytes"`
	}
	if err := json.Unmarshal([]byte(out), &added); err != nil {
		t.Fatalf("add --json output %q: %v", out, err)
	}
	if added.Repo != "acme/m" || added.Revision != "main" || len(added.Commit) != 40 || added.Files != 2 || added.Bytes != int64(len(big)+7) || added.NewBytes == 0 {
		t.Errorf("add --json = %+v", added)
	}

	dst := t.TempDir()
	if code, _, errs := run(t, home, "get", "acme/m", "--out", dst); code != 0 {
		t.Fatalf("get exit %d: %s", code, errs)
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "data.bin")); !bytes.Equal(got, big) {
		t.Error("get: data.bin differs")
	}
	if code, _, errs := run(t, home, "verify"); code != 0 {
		t.Errorf("verify exit %d: %s", code, errs)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown revision", []string{"get", "acme/m@nope", "--out", dst}, "revision not found"},
		{"unknown repo", []string{"ls", "acme/other"}, "repo not found"},
		{"bad repo name", []string{"add", src, "--repo", "../x"}, "invalid repo name"},
		{"bad type", []string{"ls", "--type", "space", "acme/m"}, "model or dataset"},
		{"missing path", []string{"get", "acme/m", "nope.txt", "--out", dst}, "nope.txt"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := run(t, home, tt.args...)
			if code == 0 || !strings.Contains(errs, tt.want) {
				t.Errorf("%v: exit %d, stderr %q; want failure naming %q", tt.args, code, errs, tt.want)
			}
		})
	}

	if code, out, _ := run(t, home, "stat", "--json"); code != 0 || !strings.Contains(out, `"revisions": 1`) || strings.Contains(out, `"disk_bytes": 0`) || !strings.Contains(out, `"disk_bytes"`) {
		t.Errorf("stat = %d %s, want revisions 1 and disk_bytes > 0", code, out)
	}
	if code, _, errs := run(t, home, "rm", "acme/m"); code != 0 {
		t.Fatalf("rm exit %d: %s", code, errs)
	}
	if code, out, _ := run(t, home, "gc", "--json"); code != 0 || strings.Contains(out, `"blocks": 0,`) {
		t.Errorf("gc after rm = %d %s, want blocks removed", code, out)
	}
}

func TestNoHome(t *testing.T) {
	code, _, errs := run(t, filepath.Join(t.TempDir(), "none"), "ls")
	if code == 0 || !strings.Contains(errs, "cairn init") {
		t.Errorf("ls without home: exit %d, %q", code, errs)
	}
}
