package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
)

const qCommit = "0123456789abcdef0123456789abcdef01234567"

// TestQuarantineRecords: a quarantine holds until a release is stored, the
// release survives a re-quarantine of the same commit and a reopen, and
// checks are kept per revision.
func TestQuarantineRecords(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if q, err := st.Quarantined(ctx, manifest.Model, "acme/bad", qCommit); err != nil || q {
		t.Fatalf("Quarantined before any record = %v, %v", q, err)
	}
	if err := st.Release(ctx, manifest.Model, "acme/bad", qCommit, []byte("doc")); !errors.Is(err, store.ErrNotQuarantined) {
		t.Errorf("Release without a record = %v", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	q := store.Quarantine{Kind: manifest.Model, Repo: "acme/bad", Commit: qCommit, Reasons: []string{"scan: x.bin unsafe"}, Scan: "1 unsafe", Time: now}
	if err := st.Quarantine(ctx, q); err != nil {
		t.Fatal(err)
	}
	c := store.Check{Kind: manifest.Model, Repo: "acme/bad", Commit: qCommit, Time: now, Via: "add", Rule: "default",
		Files: []store.FileScan{{Path: "x.bin", Verdict: "unsafe", Findings: []string{"import os.system"}}}, Licences: []string{"mit"}}
	if err := st.SetCheck(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Quarantined(ctx, manifest.Model, "acme/bad", qCommit); err != nil || !got {
		t.Fatalf("Quarantined = %v, %v", got, err)
	}
	if got, _ := st.Quarantined(ctx, manifest.Dataset, "acme/bad", qCommit); got {
		t.Error("a model's quarantine applies to the dataset of the same name")
	}
	if err := st.Release(ctx, manifest.Model, "acme/bad", qCommit, []byte("signed release")); err != nil {
		t.Fatal(err)
	}
	if err := st.Quarantine(ctx, q); err != nil { // the same commit imported again
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, err := st.Quarantined(ctx, manifest.Model, "acme/bad", qCommit); err != nil || got {
		t.Errorf("Quarantined after release = %v, %v", got, err)
	}
	rec, ok, err := st.QuarantineOf(ctx, manifest.Model, "acme/bad", qCommit)
	if err != nil || !ok || string(rec.Release) != "signed release" || rec.Released.IsZero() || rec.Reasons[0] != "scan: x.bin unsafe" || !rec.Time.Equal(now) {
		t.Errorf("QuarantineOf = %+v, %v, %v", rec, ok, err)
	}
	gotC, ok, err := st.Check(ctx, manifest.Model, "acme/bad", qCommit)
	if err != nil || !ok || gotC.Files[0].Findings[0] != "import os.system" || gotC.Licences[0] != "mit" || gotC.Repo != "acme/bad" {
		t.Errorf("Check = %+v, %v, %v", gotC, ok, err)
	}
	list, err := st.Quarantines(ctx, manifest.Model, "")
	if err != nil || len(list) != 1 || list[0].Repo != "acme/bad" || list[0].Commit != qCommit {
		t.Errorf("Quarantines = %+v, %v", list, err)
	}
	if err := st.Quarantine(ctx, store.Quarantine{Kind: manifest.Model, Repo: "acme/bad", Commit: "main"}); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("Quarantine(commit main) = %v", err)
	}
}
