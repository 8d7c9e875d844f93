package node

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnhub/cairn/manifest"
)

// flipPackByte flips one byte at off of the node's first pack file: a bit
// rotted on disk under a stored block.
func flipPackByte(t *testing.T, home string, off int64) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(home, StoreDir, "packs", "00000000.pack"), os.O_RDWR, 0)
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
		return len(bad) == 0 && len(auditEntries(t, a, KindBlockRepaired)) > 0, fmt.Sprintf("bad %v", bad)
	})
	status, body, err = get(t, url)
	if err != nil || status != 200 || !bytes.Equal(body, want) {
		t.Fatalf("GET after repair = %d, %d bytes, %v; want 200 and the file", status, len(body), err)
	}
	if es := auditEntries(t, a, KindBlockBad); len(es) == 0 {
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
