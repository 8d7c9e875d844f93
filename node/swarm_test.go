package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairnhub/cairn/hfapi"
	"github.com/cairnhub/cairn/home"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p/fetch"
	"github.com/cairnhub/cairn/pull"
	"github.com/cairnhub/cairn/replicate"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store/storetest"
)

// addRated is add with the node's upload limit set in its config.yaml.
func (c *testCluster) addRated(name, juris, upload string) *testNode {
	c.t.Helper()
	return c.addEdited(name, juris, []string{"mirror"}, func(cfg string) string {
		return strings.Replace(cfg, `max_upload_rate: "0"`, `max_upload_rate: "`+upload+`"`, 1)
	})
}

// addEdited is add with the node's config.yaml edited before it starts.
func (c *testCluster) addEdited(name, juris string, roles []string, edit func(string) string) *testNode {
	c.t.Helper()
	dir := filepath.Join(c.t.TempDir(), name)
	if _, err := home.Init(dir); err != nil {
		c.t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, home.ConfigFile)
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(edit(string(b))), 0o600); err != nil {
		c.t.Fatal(err)
	}
	n, err := LoadHome(dir)
	if err != nil {
		c.t.Fatal(err)
	}
	cert, err := sovereignty.Issue(c.org, sovereignty.Certificate{Org: "acme", PeerID: n.ID.String(), Region: "r", Jurisdiction: juris, Roles: roles, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := n.Join(cert, c.pub); err != nil {
		c.t.Fatal(err)
	}
	tn := &testNode{name: name, home: dir, juris: juris}
	c.t.Cleanup(tn.stop)
	c.start(tn)
	c.nodes = append(c.nodes, tn)
	return tn
}

// addRandomRepo imports a repo with one file of size random bytes (no two
// blocks alike, so every block must travel).
func addRandomRepo(t *testing.T, st ingest.Store, repo string, size int) *manifest.Manifest {
	t.Helper()
	dir := t.TempDir()
	b := make([]byte, size)
	r := rand.NewChaCha8([32]byte{byte(size >> 20), 1})
	r.Read(b)
	if err := os.WriteFile(filepath.Join(dir, "weights.bin"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := ingest.Add(t.Context(), st, dir, ingest.AddOptions{Repo: repo})
	if err != nil {
		t.Fatal(err)
	}
	return res.Manifest
}

func servedTotal(d *Daemon) int64 {
	var s int64
	for _, n := range d.Fetch.Served() {
		s += n
	}
	return s
}

// Receivers that pull one revision at once from an origin whose upload is
// capped fetch most of it from each other: the origin sends fewer bytes
// than one copy per receiver, and every receiver verified every file.
func TestPullSwarmOfPartialHolders(t *testing.T) {
	c := newTestCluster(t, replicate.Config{Disabled: true})
	const size = 8 << 20
	origin := c.addRated("origin", "DE", "4MiB")
	m := addRandomRepo(t, origin.n.Store, "acme/swarm", size)
	var rx []*testNode
	for i := range 4 {
		rx = append(rx, c.add("rx"+string(rune('a'+i)), "DE", "mirror"))
	}
	c.waitMesh()
	var wg sync.WaitGroup
	errs := make([]error, len(rx))
	for i, r := range rx {
		wg.Go(func() {
			_, errs[i] = r.d.Pull(t.Context(), manifest.Model, "acme/swarm", "main", pull.Options{})
		})
	}
	wg.Wait()
	var fromPeers int64
	for i, r := range rx {
		if errs[i] != nil {
			t.Fatalf("%s: %v", r.name, errs[i])
		}
		if !r.holds("acme/swarm", m.Commit) {
			t.Fatalf("%s does not hold the revision", r.name)
		}
		fromPeers += servedTotal(r.d)
	}
	sent := servedTotal(origin.d)
	t.Logf("origin sent %.2f copies; receivers sent each other %.2f", float64(sent)/size, float64(fromPeers)/size)
	if sent >= int64(len(rx)-1)*size {
		t.Errorf("origin sent %d bytes for %d receivers of %d: no swarm", sent, len(rx), size)
	}
	if fromPeers == 0 {
		t.Error("no receiver served another")
	}
	resp, err := http.Get("http://" + origin.d.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`cairn_served_bytes_total{peer="` + rx[0].peer + `"}`, "cairn_max_upload_rate_bytes 4.194304e+06", "cairn_max_download_rate_bytes 0"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// The HF API of a node that lacks a revision pulls it from a member and
// answers a range of a file before the whole revision has arrived.
func TestPullThroughRangeBeforeWholeFile(t *testing.T) {
	c := newTestCluster(t, replicate.Config{Disabled: true})
	const size = 16 << 20
	origin := c.addRated("origin", "DE", "2MiB")
	m := addRandomRepo(t, origin.n.Store, "acme/big", size)
	edge := c.add("edge", "DE", "edge")
	c.waitMesh()
	want := make([]byte, size)
	rand.NewChaCha8([32]byte{byte(size >> 20), 1}).Read(want)

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+edge.d.HTTPAddr()+"/acme/big/resolve/main/weights.bin", nil)
	req.Header.Set("Range", "bytes=0-65535")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusPartialContent || string(got) != string(want[:65536]) {
		t.Fatalf("range: status %d, %d bytes, match %v", resp.StatusCode, len(got), string(got) == string(want[:65536]))
	}
	if edge.holds("acme/big", m.Commit) {
		t.Fatal("the revision had arrived whole before the range was answered")
	}
	// A second request for the whole file joins the same pull.
	resp, err = http.Get("http://" + edge.d.HTTPAddr() + "/acme/big/resolve/main/weights.bin")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || n != size || hex.EncodeToString(h.Sum(nil)) != m.Files[0].SHA256 {
		t.Fatalf("whole file: %d bytes, err %v, sha256 match %v", n, err, hex.EncodeToString(h.Sum(nil)) == m.Files[0].SHA256)
	}
	c.eventually(30*time.Second, "the pulled revision committed", func() (bool, string) {
		return edge.holds("acme/big", m.Commit), "edge lacks it"
	})
}

// Pull with Out writes the files while they arrive, as 0644 & ~umask; a
// pull that fails leaves no .part file behind.
func TestPullOutModeAndPartCleanup(t *testing.T) {
	c := newTestCluster(t, replicate.Config{Disabled: true})
	const size = 8 << 20
	origin := c.addRated("origin", "DE", "2MiB")
	m := addRandomRepo(t, origin.n.Store, "acme/out", size)
	first := c.add("first", "DE", "edge")
	second := c.add("second", "DE", "edge")
	c.waitMesh()

	// Cancelled once the first bytes are in: the fetch fails mid-file.
	out := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	_, err := first.d.Pull(ctx, manifest.Model, "acme/out", "main", pull.Options{Out: out, Progress: func(p fetch.Progress) {
		if p.Bytes > 0 {
			cancel()
		}
	}})
	cancel()
	if err == nil {
		t.Fatal("a cancelled pull succeeded")
	}
	if left := filesIn(t, out); len(left) > 0 {
		t.Fatalf("failed pull left %v", left)
	}

	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	out = t.TempDir()
	if _, err := second.d.Pull(t.Context(), manifest.Model, "acme/out", "main", pull.Options{Out: out}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(out, "weights.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 || fi.Size() != size {
		t.Fatalf("output mode %v size %d, want -rw-r----- %d", fi.Mode().Perm(), fi.Size(), size)
	}
	b, _ := os.ReadFile(filepath.Join(out, "weights.bin"))
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != m.Files[0].SHA256 {
		t.Fatal("output sha256 differs from the manifest's")
	}
	if left := filesIn(t, out); len(left) != 1 {
		t.Fatalf("output folder holds %v, want weights.bin only", left)
	}
}

func filesIn(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A mirror node that no member can send a revision to mirrors it from the
// upstream Hub on an HF API miss, and answers the request.
func TestPullThroughMirrorsFromUpstream(t *testing.T) {
	up := storetest.Open(t)
	m := addRandomRepo(t, up, "acme/hub", 1<<20)
	api, err := hfapi.New(up, hfapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hub := httptest.NewServer(api)
	defer hub.Close()
	c := newTestCluster(t, replicate.Config{Disabled: true})
	mirrorNode := c.addEdited("mirror", "DE", []string{"mirror"}, func(cfg string) string {
		return strings.Replace(cfg, "endpoint: https://huggingface.co", "endpoint: "+hub.URL, 1)
	})
	resp, err := http.Get("http://" + mirrorNode.d.HTTPAddr() + "/acme/hub/resolve/main/weights.bin")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || hex.EncodeToString(h.Sum(nil)) != m.Files[0].SHA256 {
		t.Fatalf("status %d, %d bytes, err %v", resp.StatusCode, n, err)
	}
	if !mirrorNode.holds("acme/hub", m.Commit) {
		t.Fatal("the mirror does not hold the revision it served")
	}
	// A repo the upstream lacks too stays 404.
	resp, err = http.Get("http://" + mirrorNode.d.HTTPAddr() + "/acme/none/resolve/main/weights.bin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("missing repo: status %d, want 404", resp.StatusCode)
	}
}
