package catalog

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cairnhub/cairn/manifest"
)

// ProtocolID names the protocol.
const ProtocolID protocol.ID = "/cairn/catalog/1.0.0"

// MaxQuery bounds an encoded query.
const MaxQuery = 4 << 10

// Status of an answer.
const (
	StatusOK       byte = 0
	StatusNotFound byte = 1
	StatusRefused  byte = 2
	StatusError    byte = 3
	// StatusPartial: the peer is fetching the revision; it holds the
	// manifest (the payload) and serves the blocks it has so far.
	StatusPartial byte = 4
)

// Errors the client returns.
var (
	ErrNotFound = errors.New("peer does not hold that revision")
	ErrRefused  = errors.New("peer refused")
)

// Query asks for one revision.
type Query struct {
	Kind     manifest.Kind `json:"kind"`
	Repo     string        `json:"repo"`
	Revision string        `json:"rev"`
}

// Validate checks the fields.
func (q Query) Validate() error {
	if q.Kind != manifest.Model && q.Kind != manifest.Dataset {
		return fmt.Errorf("catalog query: kind %q", q.Kind)
	}
	if err := manifest.ValidateRepo(q.Repo); err != nil {
		return fmt.Errorf("catalog query: %w", err)
	}
	if q.Revision == "" || len(q.Revision) > 255 {
		return errors.New("catalog query: revision empty or longer than 255 bytes")
	}
	return nil
}

// EncodeQuery is the wire form: uvarint length and JSON.
func EncodeQuery(q Query) ([]byte, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(q)
	if err != nil {
		return nil, err
	}
	return append(binary.AppendUvarint(nil, uint64(len(b))), b...), nil
}

// ReadQuery reads and validates one query.
func ReadQuery(r *bufio.Reader) (Query, error) {
	b, err := readFrame(r, MaxQuery)
	if err != nil {
		return Query{}, fmt.Errorf("catalog query: %w", err)
	}
	var q Query
	if err := json.Unmarshal(b, &q); err != nil {
		return Query{}, fmt.Errorf("catalog query: %w", err)
	}
	return q, q.Validate()
}

func readFrame(r *bufio.Reader, limit uint64) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("frame of %d bytes, at most %d", n, limit)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

func writeAnswer(w io.Writer, status byte, payload []byte) error {
	b := append([]byte{status}, binary.AppendUvarint(nil, uint64(len(payload)))...)
	_, err := w.Write(append(b, payload...))
	return err
}

// Answer is what a holder says about a revision: its manifest, and
// whether the holder has only part of the blocks (it is fetching them).
type Answer struct {
	Manifest *manifest.Manifest
	Partial  bool
}

// ReadAnswer reads an answer to q and returns the manifest it carries,
// from a full or a partial holder (both are sources).
func ReadAnswer(r *bufio.Reader, q Query) (*manifest.Manifest, error) {
	a, err := ReadFullAnswer(r, q)
	return a.Manifest, err
}

// ReadFullAnswer reads an answer to q: the manifest, and whether the
// holder is partial.
func ReadFullAnswer(r *bufio.Reader, q Query) (Answer, error) {
	status, err := r.ReadByte()
	if err != nil {
		return Answer{}, fmt.Errorf("catalog answer: %w", err)
	}
	b, err := readFrame(r, manifest.MaxSize)
	if err != nil {
		return Answer{}, fmt.Errorf("catalog answer: %w", err)
	}
	switch status {
	case StatusOK, StatusPartial:
	case StatusNotFound:
		return Answer{}, fmt.Errorf("%w: %s", ErrNotFound, truncate(b))
	case StatusRefused:
		return Answer{}, fmt.Errorf("%w: %s", ErrRefused, truncate(b))
	default:
		return Answer{}, fmt.Errorf("catalog: peer error: %s", truncate(b))
	}
	m, err := manifest.Decode(b)
	if err != nil {
		return Answer{}, fmt.Errorf("catalog answer: %w", err)
	}
	if m.Repo != q.Repo || m.Type != q.Kind {
		return Answer{}, fmt.Errorf("catalog answer: asked for %s %s, got %s %s", q.Kind, q.Repo, m.Type, m.Repo)
	}
	if manifest.ValidateCommit(q.Revision) == nil && m.Commit != q.Revision {
		return Answer{}, fmt.Errorf("catalog answer: asked for commit %s, got %s", q.Revision, m.Commit)
	}
	return Answer{Manifest: m, Partial: status == StatusPartial}, nil
}

func truncate(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// Resolver looks a revision up in the local store.
type Resolver interface {
	Resolve(ctx context.Context, kind manifest.Kind, repo, revision string) (*manifest.Manifest, error)
}

// Gate says whether peer p may receive repo's manifest; a non-nil error is
// sent to the peer as the reason.
type Gate func(p peer.ID, repo string) error

// IsNotFound tells the server a resolver error means "not here".
type IsNotFound func(error) bool

// Partials finds a revision the node is fetching: it holds the manifest
// and part of the blocks.
type Partials interface {
	Partial(kind manifest.Kind, repo, revision string) (*manifest.Manifest, bool)
}

// HandlerConfig is what a catalog handler answers from.
type HandlerConfig struct {
	Resolver Resolver   // the revisions the store holds in full
	Partials Partials   // revisions being fetched; nil: none
	Gate     Gate       // asked first, for every query
	NotFound IsNotFound // says which Resolver errors mean "not here"
}

// Validate reports a missing field.
func (c HandlerConfig) Validate() error {
	if c.Resolver == nil || c.Gate == nil || c.NotFound == nil {
		return errors.New("catalog handler: Resolver, Gate and NotFound are required")
	}
	return nil
}

// Handler answers queries from the local store, asking gate first.
func Handler(res Resolver, gate Gate, notFound IsNotFound) network.StreamHandler {
	h, _ := NewHandler(HandlerConfig{Resolver: res, Gate: gate, NotFound: notFound})
	return h
}

// NewHandler answers queries from the local store, and from the
// revisions being fetched when the store lacks one (a partial answer),
// asking the gate first.
func NewHandler(cfg HandlerConfig) (network.StreamHandler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	res, gate, notFound, partials := cfg.Resolver, cfg.Gate, cfg.NotFound, cfg.Partials
	return func(s network.Stream) {
		defer s.Close()
		s.SetDeadline(time.Now().Add(30 * time.Second))
		q, err := ReadQuery(bufio.NewReader(s))
		if err != nil {
			writeAnswer(s, StatusError, []byte(err.Error()))
			return
		}
		if err := gate(s.Conn().RemotePeer(), q.Repo); err != nil {
			writeAnswer(s, StatusRefused, []byte(err.Error()))
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		status := StatusOK
		m, err := res.Resolve(ctx, q.Kind, q.Repo, q.Revision)
		if err != nil && notFound(err) && partials != nil {
			if pm, ok := partials.Partial(q.Kind, q.Repo, q.Revision); ok {
				m, err, status = pm, nil, StatusPartial
			}
		}
		if err != nil {
			st := StatusError
			if notFound(err) {
				st = StatusNotFound
			}
			writeAnswer(s, st, []byte(err.Error()))
			return
		}
		b, err := m.Encode()
		if err != nil {
			writeAnswer(s, StatusError, []byte(err.Error()))
			return
		}
		writeAnswer(s, status, b)
	}, nil
}

// Ask queries peer p and returns the manifest of a full or a partial
// holder.
func Ask(ctx context.Context, h host.Host, p peer.ID, q Query) (*manifest.Manifest, error) {
	a, err := AskFull(ctx, h, p, q)
	return a.Manifest, err
}

// AskFull queries peer p: the manifest, and whether p holds the blocks
// in full or in part.
func AskFull(ctx context.Context, h host.Host, p peer.ID, q Query) (Answer, error) {
	enc, err := EncodeQuery(q)
	if err != nil {
		return Answer{}, err
	}
	s, err := h.NewStream(ctx, p, ProtocolID)
	if err != nil {
		return Answer{}, fmt.Errorf("catalog: open stream to %s: %w", p, err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	} else {
		s.SetDeadline(time.Now().Add(30 * time.Second))
	}
	if _, err := s.Write(enc); err != nil {
		return Answer{}, fmt.Errorf("catalog: %w", err)
	}
	s.CloseWrite()
	return ReadFullAnswer(bufio.NewReader(s), q)
}

// Fetching is a Partials the node fills: the revisions it is fetching,
// by commit and by the names it was asked for.
type Fetching struct {
	mu sync.Mutex
	m  map[string]*manifest.Manifest
}

// NewFetching returns an empty record.
func NewFetching() *Fetching { return &Fetching{m: make(map[string]*manifest.Manifest)} }

func fetchingKey(kind manifest.Kind, repo, rev string) string {
	return string(kind) + " " + repo + "@" + rev
}

// Add records that the node is fetching m, known by its commit and by
// names (ref names it was asked for).
func (f *Fetching) Add(m *manifest.Manifest, names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range append([]string{m.Commit}, names...) {
		f.m[fetchingKey(m.Type, m.Repo, r)] = m
	}
}

// Remove forgets m under every name (the fetch ended: the store answers
// for it now, or nobody does).
func (f *Fetching) Remove(m *manifest.Manifest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, x := range f.m {
		if x == m || x.Commit == m.Commit && x.Repo == m.Repo && x.Type == m.Type {
			delete(f.m, k)
		}
	}
}

// Partial implements Partials.
func (f *Fetching) Partial(kind manifest.Kind, repo, rev string) (*manifest.Manifest, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.m[fetchingKey(kind, repo, rev)]
	return m, ok
}
