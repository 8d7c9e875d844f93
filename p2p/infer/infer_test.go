package infer

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

func pair(t *testing.T) (a, b host.Host) {
	t.Helper()
	mk := func() host.Host {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	a, b = mk(), mk()
	if err := a.Connect(t.Context(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// server answers with a fixed advert and streams the request's model back
// in three events; cut stops it after the first.
type server struct {
	from chan peer.ID // buffered: the peer each request came from
	kill func()       // not nil: called after the first event
}

func newServer() *server { return &server{from: make(chan peer.ID, 4)} }

func (s *server) Advert(context.Context) Advert {
	return Advert{Serving: true, Load: 2, Models: []ModelAd{{Repo: "acme/m", Rev: "main", Files: []string{"m.gguf"}, Loaded: true}}}
}

func (s *server) ServeForwarded(ctx context.Context, from peer.ID, req Request, w http.ResponseWriter) {
	s.from <- from
	w.Header().Set("Content-Type", "text/event-stream")
	for i := range 3 {
		w.Write([]byte("data: " + req.Model + "\n\n"))
		w.(http.Flusher).Flush()
		if s.kill != nil && i == 0 {
			s.kill() // the serving node dies mid-answer
			return
		}
	}
}

func TestQueryAndForward(t *testing.T) {
	a, b := pair(t)
	srv := newServer()
	New(b, srv, nil)
	client := New(a, nil, nil)

	ad, err := client.Query(t.Context(), b.ID())
	if err != nil {
		t.Fatal(err)
	}
	if want := srv.Advert(t.Context()); ad.Load != want.Load || len(ad.Models) != 1 || ad.Models[0].Repo != "acme/m" || !ad.Models[0].Loaded {
		t.Fatalf("advert %+v, want %+v", ad, want)
	}

	body, _ := json.Marshal(map[string]any{"model": "acme/m", "prompt": "x"})
	resp, err := client.Forward(t.Context(), b.ID(), Request{Path: PathCompletions, Model: "acme/m", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	if resp.Head.Status != 200 || resp.Head.ContentType != "text/event-stream" {
		t.Fatalf("head %+v", resp.Head)
	}
	var got string
	for range 10 {
		data, end, err := resp.Next()
		if err != nil {
			t.Fatal(err)
		}
		if end {
			break
		}
		got += string(data)
	}
	if want := "data: acme/m\n\ndata: acme/m\n\ndata: acme/m\n\n"; got != want {
		t.Errorf("body %q, want %q", got, want)
	}
	if from := <-srv.from; from != a.ID() {
		t.Errorf("served for %s, want %s", from, a.ID())
	}
}

// A serving node that dies mid-answer leaves a stream without KindEnd:
// Next reports an error, never a clean end.
func TestForwardCut(t *testing.T) {
	a, b := pair(t)
	srv := newServer()
	srv.kill = func() { b.Close() }
	New(b, srv, nil)
	client := New(a, nil, nil)
	body := json.RawMessage(`{"model":"acme/m"}`)
	resp, err := client.Forward(t.Context(), b.ID(), Request{Path: PathChat, Model: "acme/m", Body: body})
	if err != nil {
		return // cut before the head arrived: an error too, never a clean end
	}
	defer resp.Close()
	for range 10 {
		_, end, err := resp.Next()
		if end {
			t.Fatal("clean end of a cut answer")
		}
		if err != nil {
			return
		}
	}
	t.Fatal("no error after 10 frames")
}

// A request the wire format refuses never reaches the handler.
func TestForwardRefusesBadRequest(t *testing.T) {
	a, b := pair(t)
	srv := newServer()
	New(b, srv, nil)
	client := New(a, nil, nil)
	_, err := client.Forward(t.Context(), b.ID(), Request{Path: "/admin", Model: "acme/m", Body: json.RawMessage(`{}`)})
	if err == nil {
		t.Fatal("a request for /admin was answered")
	}
	if len(srv.from) != 0 {
		t.Error("the handler ran")
	}
}

// blocker sends one event and then waits for the end of its context.
type blocker struct{}

func (blocker) Advert(context.Context) Advert { return Advert{} }

func (blocker) ServeForwarded(ctx context.Context, _ peer.ID, _ Request, w http.ResponseWriter) {
	w.Write([]byte("data: 1\n\n"))
	w.(http.Flusher).Flush()
	<-ctx.Done()
}

// Closing the serving side ends the requests it serves, and their senders
// see a cut stream, never a complete answer.
func TestCloseCutsServedRequests(t *testing.T) {
	a, b := pair(t)
	srv := New(b, blocker{}, nil)
	resp, err := New(a, nil, nil).Forward(t.Context(), b.ID(), Request{Path: PathCompletions, Model: "acme/m", Body: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	if data, end, err := resp.Next(); err != nil || end || string(data) != "data: 1\n\n" {
		t.Fatalf("first piece: %q end=%v err=%v", data, end, err)
	}
	srv.Close()
	if _, end, err := resp.Next(); end || err == nil {
		t.Fatalf("after Close: end=%v err=%v, want a cut", end, err)
	}
}
