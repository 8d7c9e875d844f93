package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/home"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/repair"
	"github.com/cairnhub/cairn/sovereignty"
)

// flipPackByte flips one byte at off of the node's first pack file: a bit
// rotted on disk under a stored block.
func flipPackByte(t *testing.T, dir string, off int64) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, home.StoreDir, "packs", "00000000.pack"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// get fetches url; body is what arrived, err whether the transfer failed.
func get(t *testing.T, url string, hdr ...string) (status int, body []byte, err error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// A flipped byte in a pack file: /resolve never answers a complete 200
// with wrong bytes (the transfer is cut), the block is marked bad, audited
// and counted, the repair worker fetches it from the other holder, and the
// file is served whole again.
func TestCorruptBlockNotServedAndRepaired(t *testing.T) {
	c := newTestCluster(t, fastReplication)
	a := c.add("a", "DE", "mirror")
	b := c.add("b", "DE", "mirror")
	c.waitMesh()
	const size = 600 << 10
	m := addRepo(t, a.n, "acme/rot", size)
	if mb := addRepo(t, b.n, "acme/rot", size); mb.Commit != m.Commit {
		t.Fatalf("the two adds differ: %s, %s", m.Commit, mb.Commit)
	}
	url := "http://" + a.d.HTTPAddr() + "/acme/rot/resolve/main/weights.bin"
	status, good, err := get(t, url)
	if err != nil || status != 200 || len(good) != size {
		t.Fatalf("GET before the fault = %d, %d bytes, %v", status, len(good), err)
	}
	want := good

	flipPackByte(t, a.home, 1000)
	status, body, err := get(t, url)
	if err == nil && status == 200 && !bytes.Equal(body, want) {
		t.Fatalf("a corrupt block was served: 200, %d bytes, no transfer error", len(body))
	}
	if err == nil && status == 200 {
		t.Fatalf("GET after the fault = 200 with the right bytes: the flipped byte hit no block (test setup)")
	}

	c.eventually(20*time.Second, "bad block repaired from b", func() (bool, string) {
		bad, err := a.n.Store.BadBlocks(c.ctx)
		if err != nil {
			return false, err.Error()
		}
		return len(bad) == 0 && len(auditEntries(t, a, repair.KindBlockRepaired)) > 0, fmt.Sprintf("bad %v", bad)
	})
	status, body, err = get(t, url)
	if err != nil || status != 200 || !bytes.Equal(body, want) {
		t.Fatalf("GET after repair = %d, %d bytes, %v; want 200 and the file", status, len(body), err)
	}
	if es := auditEntries(t, a, repair.KindBlockBad); len(es) == 0 {
		t.Error("the bad block was not audited")
	}
	_, metrics, err := get(t, "http://"+a.d.HTTPAddr()+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"cairn_blocks_bad_found_total 1", "cairn_blocks_repaired_total 1"} {
		if !bytes.Contains(metrics, []byte(line)) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if _, err := a.n.Store.Resolve(c.ctx, manifest.Model, "acme/rot", "main"); err != nil {
		t.Fatal(err)
	}
}

// The HTTP API is closed to other web pages: no CORS header unless the
// origin is listed, a foreign Host (DNS rebinding) is refused, a
// text/plain body on a JSON endpoint is refused, /metrics wants a token
// when tokens are set.
func TestHTTPHardening(t *testing.T) {
	c := newTestCluster(t, fastReplication)
	dir := filepath.Join(t.TempDir(), "h")
	if _, err := home.Init(dir); err != nil {
		t.Fatal(err)
	}
	cfg := "http:\n  tokens: [{token: s3cret}]\n  cors_origins: [\"https://app.example\"]\n  allowed_hosts: [cairn.internal]\n"
	if err := os.WriteFile(filepath.Join(dir, home.ConfigFile), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := Open(c.ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := n.StartDaemon(c.ctx, DaemonOptions{HTTPAddr: "127.0.0.1:0", Logger: quietLog})
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; d.Close(); n.Close() })
	addRepo(t, n, "acme/web", 10<<10)
	base := "http://" + d.HTTPAddr()
	auth := []string{"Authorization", "Bearer s3cret"}

	do := func(method, url, ctype, body string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(c.ctx, method, url, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			if hdr[i] == "Host" {
				req.Host = hdr[i+1]
				continue
			}
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	file := base + "/acme/web/resolve/main/config.json"
	if r := do("GET", file, "", "", auth...); r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("plain GET = %d, allow-origin %q; want 200 and no CORS header", r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"))
	}
	if r := do("GET", file, "", "", append(auth, "Origin", "https://evil.example")...); r.StatusCode != http.StatusForbidden || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET from another origin = %d, allow-origin %q; want 403 and none", r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"))
	}
	if r := do("GET", file, "", "", append(auth, "Origin", "https://app.example")...); r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("GET from the listed origin = %d, allow-origin %q", r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"))
	}
	if r := do("GET", file, "", "", append(auth, "Host", "attacker.example:8080")...); r.StatusCode < 400 {
		t.Errorf("GET with a rebinding Host = %d, want refused", r.StatusCode)
	}
	if r := do("GET", file, "", "", append(auth, "Host", "cairn.internal")...); r.StatusCode != 200 {
		t.Errorf("GET with an allowed host = %d", r.StatusCode)
	}
	for _, p := range []string{"/v1/completions", "/v1/chat/completions"} {
		if r := do("POST", base+p, "text/plain", `{"model":"acme/web","prompt":"x"}`, auth...); r.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("POST %s text/plain = %d, want 415", p, r.StatusCode)
		}
	}
	if r := do("GET", base+"/metrics", "", ""); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics without a token = %d, want 401", r.StatusCode)
	}
	if r := do("GET", base+"/metrics", "", "", auth...); r.StatusCode != 200 {
		t.Errorf("/metrics with the token = %d", r.StatusCode)
	}
}

// Members keep each other's checkpoints; `audit verify --peers` (through
// PeerCheckpoints) catches a log cut back behind what a member holds even
// when the checkpoint kept beside it is cut too.
func TestAuditCheckpointsHeldByMembers(t *testing.T) {
	c := newTestCluster(t, fastReplication)
	a := c.add("a", "DE", "mirror")
	b := c.add("b", "DE", "mirror")
	c.waitMesh()
	for i := range 3 {
		a.d.Audit.Append(sovereignty.Entry{Kind: sovereignty.KindExport, Subject: fmt.Sprint("bundle ", i)})
	}
	cp, err := a.d.Audit.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	// a pushes its checkpoint (every minute; here at once): b keeps it. A
	// checkpoint naming another node than its key's is refused.
	a.d.cps.Push(c.ctx, cp)
	c.eventually(10*time.Second, "b holds a's checkpoint", func() (bool, string) {
		got, ok := b.d.HeldCheckpoint(a.id())
		return ok && got.Seq == cp.Seq, fmt.Sprintf("%v %+v", ok, got)
	})
	forged := cp
	forged.Node = b.id()
	if err := b.d.KeepCheckpoint(forged); err == nil {
		t.Error("b kept a checkpoint naming b signed by a's key")
	}
	held, err := a.d.PeerCheckpoints(c.ctx)
	if err != nil || len(held) != 1 || held[0].Seq != cp.Seq || held[0].Head != cp.Head {
		t.Fatalf("PeerCheckpoints = %+v, %v; want b's copy of seq %d", held, err, cp.Seq)
	}
	if _, err := a.n.VerifyAudit(held); err != nil {
		t.Fatalf("intact log against b's checkpoint: %v", err)
	}
	// Stop a, cut its log back to before the checkpoint and drop the
	// sidecar: the log alone still verifies, b's checkpoint does not.
	a.stop()
	log := filepath.Join(a.home, home.AuditFile)
	es, err := sovereignty.Tail(log, 1000)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(log)
	lines := bytes.SplitAfter(raw, []byte("\n"))
	cut := 0
	for i, e := range es {
		if e.Seq >= cp.Seq {
			cut = i
			break
		}
	}
	os.WriteFile(log, bytes.Join(lines[:cut], nil), 0o600)
	os.Remove(log + ".checkpoint")
	n, err := LoadHome(a.home)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.VerifyAudit(nil); err != nil {
		t.Fatalf("the cut log alone = %v; want it to look intact (the point of peers' copies)", err)
	}
	if _, err := n.VerifyAudit(held); err == nil {
		t.Error("a log cut behind a member's checkpoint verified against it")
	}
}

// A revocation list installed and a certificate refused at the handshake
// are audited; a stranger retrying is recorded once per minute.
func TestRevocationsAndRefusalsAudited(t *testing.T) {
	c := newTestCluster(t, fastReplication)
	a := c.add("a", "DE", "mirror")
	other := newTestCluster(t, fastReplication)
	x := other.add("x", "DE", "mirror")
	ai := peer.AddrInfo{ID: a.d.Host.ID(), Addrs: a.d.Host.Addrs()}
	for range 3 {
		if err := x.d.Host.Connect(c.ctx, ai); err == nil {
			t.Fatal("a stranger's node became a member")
		}
	}
	c.eventually(10*time.Second, "refused certificate audited", func() (bool, string) {
		es := auditEntries(t, a, sovereignty.KindCertRefused)
		return len(es) == 1 && es[0].Peer == x.id(), fmt.Sprintf("%+v", es)
	})
	signed, err := sovereignty.SignRevocations(c.org, sovereignty.Revocations{Org: "acme", Version: 1, Serials: []string{"s-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.d.Host.AddRevocations(c.ctx, signed); err != nil {
		t.Fatal(err)
	}
	c.eventually(10*time.Second, "revocations audited", func() (bool, string) {
		es := auditEntries(t, a, sovereignty.KindRevocation)
		return len(es) == 1 && strings.Contains(es[0].Subject, "v1"), fmt.Sprintf("%+v", es)
	})
}
