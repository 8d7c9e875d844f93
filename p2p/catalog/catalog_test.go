package catalog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"github.com/cairnhub/cairn/manifest"
)

var errNotHere = errors.New("not here")

type mapResolver map[string]*manifest.Manifest

func (m mapResolver) Resolve(_ context.Context, kind manifest.Kind, repo, rev string) (*manifest.Manifest, error) {
	if x, ok := m[string(kind)+" "+repo+"@"+rev]; ok {
		return x, nil
	}
	return nil, errNotHere
}

func testManifest(t testing.TB) *manifest.Manifest {
	mh, _ := multihash.Sum([]byte("x"), multihash.SHA2_256, -1)
	c := cid.NewCidV1(cid.Raw, mh)
	m := &manifest.Manifest{Version: manifest.Version, Type: manifest.Model, Repo: "acme/m", Root: c,
		Files: []manifest.File{{Path: "a", Size: 1, SHA256: strings.Repeat("a", 64), BlobID: strings.Repeat("b", 40), CID: c}}}
	var err error
	if m.Commit, err = m.DeriveCommit(); err != nil {
		t.Fatal(err)
	}
	return m
}

func newHost(t *testing.T) host.Host {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestAsk(t *testing.T) {
	m := testManifest(t)
	srv, cl := newHost(t), newHost(t)
	refused := peer.ID("")
	srv.SetStreamHandler(ProtocolID, Handler(mapResolver{"model acme/m@main": m}, func(p peer.ID, repo string) error {
		if p == refused {
			return errors.New("jurisdiction FR not in receive [DE]")
		}
		return nil
	}, func(err error) bool { return errors.Is(err, errNotHere) }))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := cl.Connect(ctx, peer.AddrInfo{ID: srv.ID(), Addrs: srv.Addrs()}); err != nil {
		t.Fatal(err)
	}
	got, err := Ask(ctx, cl, srv.ID(), Query{Kind: manifest.Model, Repo: "acme/m", Revision: "main"})
	if err != nil || got.Commit != m.Commit {
		t.Fatalf("Ask = %v, %v; want commit %s", got, err, m.Commit)
	}
	if _, err := Ask(ctx, cl, srv.ID(), Query{Kind: manifest.Model, Repo: "acme/m", Revision: "v2"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Ask(v2) = %v, want ErrNotFound", err)
	}
	if _, err := Ask(ctx, cl, srv.ID(), Query{Kind: manifest.Dataset, Repo: "acme/m", Revision: "main"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Ask(dataset) = %v, want ErrNotFound", err)
	}
	refused = cl.ID()
	_, err = Ask(ctx, cl, srv.ID(), Query{Kind: manifest.Model, Repo: "acme/m", Revision: "main"})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "FR") {
		t.Errorf("Ask refused = %v, want ErrRefused with the reason", err)
	}
}

// TestPartialHolder: a node fetching a revision answers with its
// manifest, marked partial, by commit and by the name it was asked for;
// once the store holds it the answer is full, and once the fetch is
// forgotten without it, not found.
func TestPartialHolder(t *testing.T) {
	m := testManifest(t)
	store := mapResolver{}
	fetching := NewFetching()
	srv, cl := newHost(t), newHost(t)
	h, err := NewHandler(HandlerConfig{
		Resolver: store, Partials: fetching,
		Gate:     func(peer.ID, string) error { return nil },
		NotFound: func(err error) bool { return errors.Is(err, errNotHere) },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetStreamHandler(ProtocolID, h)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := cl.Connect(ctx, peer.AddrInfo{ID: srv.ID(), Addrs: srv.Addrs()}); err != nil {
		t.Fatal(err)
	}
	main := Query{Kind: manifest.Model, Repo: "acme/m", Revision: "main"}
	byCommit := Query{Kind: manifest.Model, Repo: "acme/m", Revision: m.Commit}
	if _, err := AskFull(ctx, cl, srv.ID(), main); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before the fetch: %v, want ErrNotFound", err)
	}
	fetching.Add(m, "main")
	for _, q := range []Query{main, byCommit} {
		a, err := AskFull(ctx, cl, srv.ID(), q)
		if err != nil || !a.Partial || a.Manifest.Commit != m.Commit {
			t.Fatalf("while fetching, %s: %+v, %v; want a partial answer with commit %s", q.Revision, a, err, m.Commit)
		}
	}
	if got, err := Ask(ctx, cl, srv.ID(), main); err != nil || got.Commit != m.Commit {
		t.Fatalf("Ask of a partial holder = %v, %v; want its manifest", got, err)
	}
	store["model acme/m@main"] = m
	if a, err := AskFull(ctx, cl, srv.ID(), main); err != nil || a.Partial {
		t.Fatalf("once stored: %+v, %v; want a full answer", a, err)
	}
	fetching.Remove(m)
	if _, err := AskFull(ctx, cl, srv.ID(), byCommit); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after Remove, by commit: %v, want ErrNotFound", err)
	}
	if _, err := NewHandler(HandlerConfig{Resolver: store}); err == nil {
		t.Fatal("NewHandler without a gate succeeded")
	}
}

func TestReadAnswerRejectsOtherRepo(t *testing.T) {
	m := testManifest(t)
	b, _ := m.Encode()
	var buf bytes.Buffer
	writeAnswer(&buf, StatusOK, b)
	_, err := ReadAnswer(bufio.NewReader(&buf), Query{Kind: manifest.Model, Repo: "evil/other", Revision: "main"})
	if err == nil {
		t.Fatal("ReadAnswer accepted a manifest of another repo")
	}
}

func FuzzReadQuery(f *testing.F) {
	good, _ := EncodeQuery(Query{Kind: manifest.Model, Repo: "a/b", Revision: "main"})
	f.Add(good)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{2, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ReadQuery(bufio.NewReader(bytes.NewReader(b)))
		if err == nil && q.Validate() != nil {
			t.Fatal("ReadQuery returned an invalid query without error")
		}
	})
}

func FuzzReadAnswer(f *testing.F) {
	m := testManifest(f)
	b, _ := m.Encode()
	var buf bytes.Buffer
	writeAnswer(&buf, StatusOK, b)
	f.Add(buf.Bytes())
	buf.Reset()
	writeAnswer(&buf, StatusPartial, b)
	f.Add(buf.Bytes())
	f.Add([]byte{1, 3, 'n', 'o', 'p'})
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff, 0x7f})
	q := Query{Kind: manifest.Model, Repo: "acme/m", Revision: "main"}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ReadAnswer(bufio.NewReader(bytes.NewReader(b)), q)
		if err == nil && (m.Repo != q.Repo || m.Validate() != nil) {
			t.Fatal("ReadAnswer accepted a bad manifest")
		}
	})
}
