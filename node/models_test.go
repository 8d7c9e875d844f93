package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhub/cairn/home"
	"github.com/cairnhub/cairn/inference/models"
	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/internal/fixture"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/sovereignty"
)

func openTestNode(t *testing.T) *Node {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "home")
	if _, err := home.Init(dir); err != nil {
		t.Fatal(err)
	}
	n, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestModelsPullOnDemand: an edge daemon without the model locates it for
// concurrent callers with one pull from a member that holds it.
func TestModelsPullOnDemand(t *testing.T) {
	if testing.Short() {
		t.Skip("two daemons: not in -short")
	}
	fixtureModel := fixture.Path(t, fixture.Model)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	key, err := sovereignty.GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := sovereignty.FormatOrgPublicKey(sovereignty.OrgPublicKey(key))
	mirror, edge := openTestNode(t), openTestNode(t)
	for _, n := range []*Node{mirror, edge} {
		cert, err := sovereignty.Issue(key, sovereignty.Certificate{Org: "acme", PeerID: n.ID.String(), Region: "eu",
			Jurisdiction: "DE", Roles: []string{"mirror"}, Expires: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Join(cert, pub); err != nil {
			t.Fatal(err)
		}
	}
	res, err := ingest.Add(ctx, mirror.Store, fixtureModel, ingest.AddOptions{Repo: "acme/stories"})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var wg sync.WaitGroup
	start := func(n *Node, bootstrap []string) *Daemon {
		d, err := n.StartDaemon(ctx, DaemonOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: bootstrap, HTTPAddr: "127.0.0.1:0", Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { d.Run(ctx) })
		t.Cleanup(func() {
			cancel()
			wg.Wait()
			d.Close()
		})
		return d
	}
	dm := start(mirror, nil)
	de := start(edge, []string{dm.Host.Addrs()[0].String()})
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := de.WaitForPeers(wctx, 1); err != nil {
		t.Fatal(err)
	}

	var logs lockedBuffer
	ms := models.New(edge.Store, filepath.Join(edge.Dir, home.ModelsDir), de, slog.New(slog.NewTextHandler(&logs, nil)))
	if _, err := ms.Locate(ctx, "acme/other"); !errors.Is(err, openai.ErrModelNotFound) {
		t.Errorf("Locate(acme/other) = %v; want ErrModelNotFound (no peer holds it)", err)
	}
	const callers = 4
	paths := make([]string, callers)
	errs := make([]error, callers)
	var cw sync.WaitGroup
	for i := range callers {
		cw.Go(func() { paths[i], errs[i] = ms.Locate(ctx, "acme/stories") })
	}
	cw.Wait()
	f := res.Manifest.Files[0]
	for i := range callers {
		if errs[i] != nil || paths[i] != filepath.Join(edge.Dir, home.ModelsDir, f.SHA256+".gguf") {
			t.Fatalf("Locate %d = %s, %v", i, paths[i], errs[i])
		}
	}
	if got := fileSHA256(t, paths[0]); got != f.SHA256 {
		t.Errorf("pulled model sha256 %s, want %s", got, f.SHA256)
	}
	if n := strings.Count(logs.String(), `msg="model pull" repo=acme/stories`); n != 1 {
		t.Errorf("%d pulls logged for %d concurrent callers, want 1:\n%s", n, callers, logs.String())
	}
	if n := strings.Count(logs.String(), `msg="model materialise"`); n != 1 {
		t.Errorf("%d materialisations logged, want 1", n)
	}
	if _, err := edge.Store.Resolve(ctx, manifest.Model, "acme/stories", "main"); err != nil {
		t.Errorf("edge store after the pull: %v", err)
	}
}
