package gate_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/gate"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/internal/fixture"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
	"github.com/cairnhub/cairn/store/storetest"
)

// countingGetter counts the bytes of the blocks read through it.
type countingGetter struct {
	st *store.Store
	n  atomic.Int64
}

func (g *countingGetter) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	b, err := g.st.Get(ctx, c)
	if err == nil {
		g.n.Add(int64(len(b.RawData())))
	}
	return b, err
}

func addRepo(t *testing.T, st *store.Store, repo string, files map[string]string) *manifest.Manifest {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		b, err := os.ReadFile(fixture.Path(t, src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := ingest.Add(t.Context(), st, dir, ingest.AddOptions{Repo: repo})
	if err != nil {
		t.Fatal(err)
	}
	return res.Manifest
}

// TestCheckThroughStore: scanning a stored revision reads its pickles and
// headers back, not its tensor data, and classifies each file.
func TestCheckThroughStore(t *testing.T) {
	st := storetest.Open(t)
	m := addRepo(t, st, "acme/mixed", map[string]string{
		"model.gguf":          fixture.Model,
		"pytorch_model.bin":   "scan/mal_torch_data.pt",
		"extra.pkl":           "scan/unknown_namespace.pkl",
		"model.safetensors":   "scan/good.safetensors",
		"optimizer.pt":        "scan/benign_torch.pt",
		"stories.expect.txt":  fixture.Expected,
		"notes.pkl.gz":        "scan/benign_gzip.pkl.gz",
		"legacy_model.bin":    "scan/benign_legacy.bin",
		"numpy_state.pkl":     "scan/benign_numpy_p4.pkl",
		"trunc_benign.pkl":    "scan/trunc_benign.pkl",
		"hidden_member.ckpt":  "scan/mal_torch_hidden_member.pt",
		"object_array.npy":    "scan/mal_object.npy",
		"nested_zip.zip":      "scan/mal_nested_zip.zip",
		"popen.pkl":           "scan/mal_popen.pkl",
		"good_model_2.gguf":   "scan/good.gguf",
		"README.md":           "scan/README.md",
		"torch_p4_state.pkl":  "scan/benign_torch_p4.pkl",
		"escaped_names.pkl":   "scan/mal_escaped_names.pkl",
		"memo_stack.pkl":      "scan/mal_memo_stack_global.pkl",
		"unknown_xz.joblib":   "scan/unknown_xz.joblib",
		"zlib_payload.joblib": "scan/mal_zlib.joblib",
	})
	g := &countingGetter{st: st}
	res, err := (&gate.Gate{Records: st}).Check(t.Context(), m.Type, m.Repo, gate.Paths(m), gate.StoreOpener(t.Context(), g, m))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"pytorch_model.bin": "unsafe", "extra.pkl": "unknown", "model.safetensors": "safe",
		"optimizer.pt": "safe", "model.gguf": "safe", "hidden_member.ckpt": "unsafe",
		"popen.pkl": "unsafe", "numpy_state.pkl": "safe", "memo_stack.pkl": "unsafe"}
	for _, f := range res.Files {
		if w, ok := want[f.Path]; ok && f.Verdict != w {
			t.Errorf("%s: %s, want %s (%v)", f.Path, f.Verdict, w, f.Findings)
		}
	}
	if len(res.Files) != len(m.Files) || !res.Quarantined() {
		t.Errorf("%d files checked of %d; verdict %+v", len(res.Files), len(m.Files), res.Verdict)
	}
	// The GGUF's header (its vocabulary) is most of what is read.
	if total := m.TotalSize(); g.n.Load()*4 >= total {
		t.Errorf("scanning read %d bytes of a %d-byte revision", g.n.Load(), total)
	}
}

// TestReleaseTravels: a release that comes with a revision (from a peer or
// a bundle) is applied when the revision is recorded quarantined; a release
// of a revision not quarantined is refused.
func TestReleaseTravels(t *testing.T) {
	ctx := t.Context()
	st := storetest.Open(t)
	org, _ := sovereignty.GenerateOrgKey()
	trust, _ := sovereignty.NewTrust(sovereignty.OrgPublicKey(org))
	audit, err := sovereignty.OpenAudit(filepath.Join(t.TempDir(), "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer audit.Close()
	g := &gate.Gate{Records: st, Trust: trust, Audit: audit, Via: "pull"}
	m := addRepo(t, st, "acme/bad", map[string]string{"pytorch_model.bin": "scan/mal_os_system_p2.pkl"})
	signed, err := sovereignty.SignRelease(org, sovereignty.Release{Kind: "model", Repo: "acme/bad", Commit: m.Commit, Reason: "sandboxed use only"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Release(ctx, signed); !errors.Is(err, gate.ErrReleaseRefused) || !errors.Is(err, store.ErrNotQuarantined) {
		t.Errorf("release before any quarantine = %v", err)
	}
	res, err := g.Check(ctx, m.Type, m.Repo, gate.Paths(m), gate.StoreOpener(ctx, st, m))
	if err != nil {
		t.Fatal(err)
	}
	res.Release = signed
	if err := g.Record(ctx, res, m.Commit); err != nil {
		t.Fatal(err)
	}
	q, ok, err := st.QuarantineOf(ctx, m.Type, m.Repo, m.Commit)
	if err != nil || !ok || q.InForce() || string(q.Release) != string(signed) || !strings.Contains(q.Reasons[0], "pytorch_model.bin unsafe") {
		t.Errorf("record = %+v, %v, %v", q, ok, err)
	}
	if (&gate.Gate{}).Validate() == nil {
		t.Error("a gate without Records validates")
	}
}
