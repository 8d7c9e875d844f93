package fetch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/ipfs/boxo/blockstore"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Gate decides whether peer p may receive blocks of the DAG under root. A
// non-nil error refuses; its text is sent to the peer (e.g. "policy:
// jurisdiction FR not allowed"), so it must not leak secrets.
type Gate func(p peer.ID, root cid.Cid) error

// Source is what the server reads blocks from. View must not retain or
// modify the slice it passes to fn.
type Source interface {
	Has(ctx context.Context, c cid.Cid) (bool, error)
	View(ctx context.Context, c cid.Cid, fn func([]byte) error) error
}

// ServerConfig tunes a Server. The zero value is the default.
type ServerConfig struct {
	// MaxStreams bounds the streams served at once; further streams are
	// refused with an error frame. Default 64.
	MaxStreams int
	// IdleTimeout closes a stream that sends no request for this long.
	// Default 60s.
	IdleTimeout time.Duration
	// WriteTimeout drops a stream whose reader accepts no frame for this
	// long. Default 30s.
	WriteTimeout time.Duration
	// IndexCache is how many DAG indexes (leaf lists and block sets, used
	// to answer leaf ranges and to check that listed CIDs belong to the
	// root) are kept. Default 16.
	IndexCache int
	// Logger receives refusals and failures. Default slog.Default().
	Logger *slog.Logger
	// Haves, if set, is the node's record of the DAGs it is fetching
	// (shared with its Client): a tracked root is probed as served, and
	// have requests about it are answered from the record; an untracked
	// root the store holds is answered "all". Nil: every root held is
	// answered "all".
	Haves *Haves
	// HaveWait is how long a have request naming the current generation
	// waits for a change before it is answered. Default 2s.
	HaveWait time.Duration
	// UploadRate bounds the block bytes per second sent over all streams
	// together. 0: unlimited.
	UploadRate int64
	// SourceOnly makes the server read every block from its Source, never
	// from the recent blocks of a Haves have-set (the bytes of the blocks
	// the Client stored last, kept so that a swarm's copies cost no
	// store read). Set it when the Source is not the store the Client
	// fills. Default false.
	SourceOnly bool
}

// Validate reports a negative setting.
func (c ServerConfig) Validate() error {
	if c.MaxStreams < 0 || c.IdleTimeout < 0 || c.WriteTimeout < 0 || c.IndexCache < 0 || c.HaveWait < 0 || c.UploadRate < 0 {
		return errors.New("fetch server config: negative value")
	}
	return nil
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.MaxStreams == 0 {
		c.MaxStreams = 64
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.IndexCache == 0 {
		c.IndexCache = 16
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.HaveWait == 0 {
		c.HaveWait = 2 * time.Second
	}
	return c
}

// Server answers /cairn/fetch/1.0.0 requests from the blocks of a Source.
type Server struct {
	h    host.Host
	src  Source
	gate Gate
	cfg  ServerConfig
	sem  chan struct{}
	up   *Limiter

	mu     sync.Mutex
	index  map[string]*dagIndex // by root key; complete indexes only
	order  []string             // insertion order, for eviction
	served map[peer.ID]*atomic.Int64
	// listing counts the block requests being answered (a measure of
	// how much work waits on the upload limit).
	listing atomic.Int64
}

// NewServer returns a server of src's blocks on h. Every request passes
// gate first; a nil gate refuses everything.
func NewServer(h host.Host, src Source, gate Gate, cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Server{
		h: h, src: src, gate: gate, cfg: cfg,
		sem:    make(chan struct{}, cfg.MaxStreams),
		up:     NewLimiter(cfg.UploadRate),
		index:  make(map[string]*dagIndex),
		served: make(map[peer.ID]*atomic.Int64),
	}, nil
}

// Served returns the block bytes sent to each peer since the server
// started (for a served-bytes metric per peer).
func (s *Server) Served() map[peer.ID]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[peer.ID]int64, len(s.served))
	for p, n := range s.served {
		out[p] = n.Load()
	}
	return out
}

// UploadRate returns the upload limit in bytes per second; 0: unlimited.
func (s *Server) UploadRate() int64 { return s.up.Rate() }

func (s *Server) servedTo(p peer.ID) *atomic.Int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.served[p]
	if n == nil {
		n = new(atomic.Int64)
		s.served[p] = n
	}
	return n
}

// Register installs the stream handler on the host.
func (s *Server) Register() { s.h.SetStreamHandler(ProtocolID, s.handle) }

// Close removes the stream handler; streams being served finish.
func (s *Server) Close() error {
	s.h.RemoveStreamHandler(ProtocolID)
	return nil
}

// Run registers the handler and serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	s.Register()
	<-ctx.Done()
	return s.Close()
}

type serverStream struct {
	s      *Server
	st     network.Stream
	w      *bufio.Writer
	hdr    []byte
	closed bool // closed cleanly (after an error frame or the client's EOF)
	slot   bool // holds one of the server's MaxStreams slots
	ctx    context.Context
	served *atomic.Int64
}

func (s *Server) handle(st network.Stream) {
	remote := st.Conn().RemotePeer()
	// The stream lives as long as the peer keeps asking; ctx ends the
	// store reads when the handler returns.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ss := &serverStream{s: s, st: st, w: bufio.NewWriterSize(st, frameBuf), ctx: ctx, served: s.servedTo(remote)}
	defer func() {
		if ss.slot {
			<-s.sem
		}
		if !ss.closed {
			_ = st.Reset() // a failed write or store read: abort the stream
		}
	}()
	r := bufio.NewReaderSize(st, 16<<10)
	for {
		_ = st.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		req, err := readRequest(r)
		if err != nil {
			if errors.Is(err, io.EOF) {
				ss.closed = true
				_ = st.Close()
			} else {
				_ = ss.fail(fmt.Sprintf("bad request: %v", err))
			}
			return
		}
		_ = st.SetReadDeadline(time.Time{})
		if s.gate == nil {
			_ = ss.fail("refused: no gate configured")
			return
		}
		if err := s.gate(remote, req.Root); err != nil {
			// A root the node lacks is asked again by swarm fetchers
			// (see reprobe): not worth a line each time.
			lvl := slog.LevelInfo
			if strings.HasPrefix(err.Error(), "not found: root ") {
				lvl = slog.LevelDebug
			}
			s.cfg.Logger.Log(ctx, lvl, "fetch: refused", "peer", remote, "root", req.Root, "err", err)
			_ = ss.fail(err.Error())
			return
		}
		// Streams that only probe or ask for have-sets are cheap and do
		// not count against MaxStreams; a stream takes a slot with its
		// first request for blocks and keeps it.
		if !ss.slot && req.Kind != KindProbe && req.Kind != KindHave {
			select {
			case s.sem <- struct{}{}:
				ss.slot = true
			default:
				_ = ss.fail("busy: too many fetch streams")
				return
			}
		}
		if err := ss.serve(ctx, req); err != nil {
			s.cfg.Logger.Debug("fetch: serve", "peer", remote, "root", req.Root, "kind", req.Kind, "err", err)
			return
		}
	}
}

// fail sends an error frame and closes the stream.
func (ss *serverStream) fail(msg string) error {
	b, _ := AppendFrame(nil, Frame{Type: FrameError, Msg: msg})
	_ = ss.st.SetWriteDeadline(time.Now().Add(ss.s.cfg.WriteTimeout))
	_, err := ss.w.Write(b)
	if err == nil {
		err = ss.w.Flush()
	}
	ss.closed = true
	_ = ss.st.Close()
	return err
}

// errStop ends serving a stream after an error frame was sent.
var errStop = errors.New("stream stopped")

func (ss *serverStream) serve(ctx context.Context, req Request) error {
	var err error
	switch req.Kind {
	case KindProbe:
		// A root being fetched is served as far as it has arrived.
		hs := ss.s.cfg.Haves.Lookup(req.Root)
		hs.Asked()
		ok := hs != nil
		if !ok {
			ok, err = ss.s.src.Has(ctx, req.Root)
		}
		if err == nil && !ok {
			return ss.fail("not found: root " + req.Root.String())
		}
	case KindHave:
		err = ss.have(ctx, req)
	case KindDAG, KindStructure:
		err = ss.walk(ctx, req.Root, req.Kind == KindStructure)
	case KindLeaves, KindCIDs:
		err = ss.list(ctx, req)
	}
	if errors.Is(err, errStop) {
		return err
	}
	if err != nil {
		_ = ss.fail("server: " + err.Error())
		return err
	}
	if err := ss.frame(FrameEnd, cid.Undef, nil); err != nil {
		return err
	}
	return ss.w.Flush()
}

// have answers a have request: from the node's record when it is
// fetching the root (after waiting up to HaveWait for news past the
// client's generation), "all" when the store holds the root otherwise.
func (ss *serverStream) have(ctx context.Context, req Request) error {
	var h Have
	if hs := ss.s.cfg.Haves.Lookup(req.Root); hs != nil {
		hs.Asked()
		wctx, cancel := context.WithTimeout(ctx, ss.s.cfg.HaveWait)
		hs.Wait(wctx, req.Since)
		cancel()
		h = hs.Snapshot(req.Since)
	} else {
		ok, err := ss.s.src.Has(ctx, req.Root)
		if err != nil {
			return err
		}
		if !ok {
			_ = ss.fail("not found: root " + req.Root.String())
			return errStop
		}
		h = Have{Mode: HaveAll}
	}
	b, err := AppendFrame(ss.hdr[:0], Frame{Type: FrameHave, Have: h})
	if err != nil {
		return err
	}
	ss.hdr = b
	_ = ss.st.SetWriteDeadline(time.Now().Add(ss.s.cfg.WriteTimeout))
	if _, err := ss.w.Write(b); err != nil {
		return fmt.Errorf("write have frame: %w", err)
	}
	return nil
}

// frame writes one frame; data, if any, is written without a copy when it
// is larger than the buffer. Block bytes wait for the upload limit.
func (ss *serverStream) frame(t FrameType, c cid.Cid, data []byte) error {
	if len(data) > 0 {
		if err := ss.s.up.Wait(ss.ctx, len(data)); err != nil {
			return err
		}
		ss.served.Add(int64(len(data)))
	}
	_ = ss.st.SetWriteDeadline(time.Now().Add(ss.s.cfg.WriteTimeout))
	ss.hdr = appendFrameHeader(ss.hdr[:0], t, c, len(data))
	if _, err := ss.w.Write(ss.hdr); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	if _, err := ss.w.Write(data); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// send streams one block from the store, or a missing frame when absent.
// For a dag-pb block it returns the links (decoded while the bytes are
// borrowed) when withLinks is set.
func (ss *serverStream) send(ctx context.Context, c cid.Cid, withLinks, emit bool) ([]link, error) {
	var ls []link
	err := ss.s.src.View(ctx, c, func(b []byte) error {
		if len(b) > MaxBlockSize {
			return fmt.Errorf("block %s: %d bytes: %w", c, len(b), errTooLarge)
		}
		if withLinks {
			var err error
			if ls, err = links(c, b); err != nil {
				return err
			}
		}
		if !emit {
			return nil
		}
		return ss.frame(FrameBlock, c, b)
	})
	if err == nil {
		return ls, nil
	}
	if ok, herr := ss.s.src.Has(ctx, c); herr == nil && !ok {
		return nil, ss.frame(FrameMissing, c, nil)
	}
	return nil, err
}

// walk streams the DAG under root in depth-first pre-order: every block,
// or only the nodes with links when structure is set.
func (ss *serverStream) walk(ctx context.Context, root cid.Cid, structure bool) error {
	stack := []cid.Cid{root}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if structure && c != root && c.Type() != cid.DagProtobuf {
			continue // leaves are not structure
		}
		// A dag-pb node with no links is a leaf: in structure mode it is
		// decoded but not sent.
		var ls []link
		var err error
		if structure && c != root {
			ls, err = ss.peekLinks(ctx, c)
			if err == nil && len(ls) > 0 {
				_, err = ss.send(ctx, c, false, true)
			}
		} else {
			ls, err = ss.send(ctx, c, true, true)
		}
		if err != nil {
			return err
		}
		for i := len(ls) - 1; i >= 0; i-- {
			stack = append(stack, ls[i].c)
		}
		if len(stack) > maxIndexBlocks {
			return fmt.Errorf("DAG %s: over %d pending blocks", root, maxIndexBlocks)
		}
	}
	return nil
}

func (ss *serverStream) peekLinks(ctx context.Context, c cid.Cid) ([]link, error) {
	var ls []link
	err := ss.s.src.View(ctx, c, func(b []byte) error {
		var err error
		ls, err = links(c, b)
		return err
	})
	if err != nil {
		if ok, herr := ss.s.src.Has(ctx, c); herr == nil && !ok {
			return nil, nil // absent: the client finds out when it asks for it
		}
	}
	return ls, err
}

// list streams the blocks of a leaf range or a CID list, each checked to
// belong to the DAG under the request's root: the Gate decided on the
// root, so nothing outside it may leave.
func (ss *serverStream) list(ctx context.Context, req Request) error {
	ss.s.listing.Add(1)
	defer ss.s.listing.Add(-1)
	idx, err := ss.s.indexOf(ctx, req.Root)
	if err != nil {
		return err
	}
	want := req.CIDs
	if req.Kind == KindLeaves {
		if req.Start >= uint64(len(idx.leaves)) {
			return fmt.Errorf("leaf range [%d,%d): DAG has %d leaves", req.Start, req.End, len(idx.leaves))
		}
		want = idx.leaves[req.Start:min(req.End, uint64(len(idx.leaves)))]
	}
	ctx, cancel := context.WithCancel(ctx)
	var hs *HaveSet
	if !ss.s.cfg.SourceOnly {
		hs = ss.s.cfg.Haves.Lookup(req.Root)
		hs.Asked()
	}
	loads := ss.readAhead(ctx, want, idx, hs, aheadFor(int(ss.s.listing.Load())))
	defer func() {
		cancel()
		drain(loads) // wait for the reads to end
	}()
	for lc := range loads {
		l := <-lc
		if l.err != nil {
			l.free()
			return l.err
		}
		var err error
		if l.data == nil {
			// Unknown to this root (or below a node we lack), or absent:
			// the client asks elsewhere.
			err = ss.frame(FrameMissing, l.c, nil)
		} else {
			err = ss.frame(FrameBlock, l.c, l.data)
		}
		l.free()
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// readAhead is how many blocks list reads ahead of a stream, at once:
// the store's reads (from disk, direct I/O) and their hash checks then
// overlap sending and each other. One read at a time, a cold source's
// disk delivered 256 KiB blocks at a third of its speed with several
// reads in flight, below what one peer's stream carries. Eight rather than
// four: `go run ./bench get` (512 MiB, one peer, alternating builds) took
// 1.31-1.60 s against 1.52-1.70 s; sixteen was no better than eight.
// aheadFor shares aheadBlocks among the streams being answered, so a
// source serving many peers holds no more blocks read ahead than one
// serving four (at least minAhead each).
const (
	readAhead   = 8
	aheadBlocks = 4 * readAhead
	minAhead    = 2
)

// aheadFor is the read-ahead of one of n streams being answered.
func aheadFor(n int) int {
	return max(minAhead, min(readAhead, aheadBlocks/max(n, 1)))
}

// loaded is a block read ahead: its bytes in a buffer of its own until
// free, nil when the block is to be reported missing.
type loaded struct {
	c       cid.Cid
	data    []byte
	release func() // gives data's buffer back; nil: nothing to give back
	err     error
	// unchecked: data came from the store unchecked (checkedReader) and
	// must be checked against c before it is sent.
	unchecked bool
}

// drain waits for every read of loads still running and frees its block.
func drain(loads <-chan chan loaded) {
	for lc := range loads {
		(<-lc).free()
	}
}

// checkPairs checks the blocks one stream reads ahead against their CIDs,
// where the store left that to the server, two at a time: a read that
// ends while another read's block waits for a partner checks both
// (sha256x.Check2: two for little more than the time of one). The checks
// run on the reading goroutines, beside each other and the sending. A
// block that does not match is reported to the store (marked bad,
// repaired) and sent as missing, as a block the store refused would be.
type checkPairs struct {
	ss   *serverStream
	mu   sync.Mutex
	wait *pairWait // a block waiting for a partner
}

type pairWait struct {
	l    *loaded
	done chan struct{} // closed once l is checked
}

// pairWaitFor is how long a block read waits for a partner before it is
// checked alone: a little more than a direct read of a 1 MiB block takes
// on the disks measured (about 1 ms), and far less than sending it.
const pairWaitFor = 2 * time.Millisecond

// check checks l if it must be. last: no read follows l's, so l does not
// wait for one.
func (cp *checkPairs) check(ctx context.Context, l *loaded, last bool) {
	if !l.unchecked || l.err != nil || l.data == nil {
		return
	}
	cp.mu.Lock()
	if w := cp.wait; w != nil {
		cp.wait = nil
		cp.mu.Unlock()
		errL, errW := verifyPair(Frame{Type: FrameBlock, CID: l.c, Data: l.data}, Frame{Type: FrameBlock, CID: w.l.c, Data: w.l.data})
		cp.ss.checked(w.l, errW)
		close(w.done)
		cp.ss.checked(l, errL)
		return
	}
	if last {
		cp.mu.Unlock()
		cp.ss.checked(l, verify(l.c, l.data))
		return
	}
	w := &pairWait{l: l, done: make(chan struct{})}
	cp.wait = w
	cp.mu.Unlock()
	t := time.NewTimer(pairWaitFor)
	defer t.Stop()
	select {
	case <-w.done:
		return
	case <-t.C:
	case <-ctx.Done():
	}
	cp.mu.Lock()
	alone := cp.wait == w
	if alone {
		cp.wait = nil
	}
	cp.mu.Unlock()
	if alone {
		cp.ss.checked(l, verify(l.c, l.data))
		return
	}
	<-w.done // a partner took l and is checking it
}

// checked records the outcome of l's check.
func (ss *serverStream) checked(l *loaded, err error) {
	l.unchecked = false
	if err == nil {
		return
	}
	ss.s.src.(checkedReader).Corrupt(l.c) // only such a source leaves checks to the server
	l.free()
	l.data, l.release = nil, nil
}

func (l loaded) free() {
	if l.release != nil {
		l.release()
	}
}

var sendBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1<<20); return &b }}

// readAhead reads want's blocks, up to ahead+1 at once, each on a
// goroutine of its own, until ctx ends. It returns one channel per block,
// in want's order, each carrying that block once read and checked
// (checkPairs); the channel of
// channels closes after the last block's, and no read runs past the
// first error. A block among hs's recent ones (hs may be nil) is sent
// from memory.
func (ss *serverStream) readAhead(ctx context.Context, want []cid.Cid, idx *dagIndex, hs *HaveSet, ahead int) <-chan chan loaded {
	out := make(chan chan loaded, ahead)
	pairs := &checkPairs{ss: ss}
	go func() {
		defer close(out)
		var failed atomic.Bool
		for i, c := range want {
			lc := make(chan loaded, 1)
			select {
			case out <- lc:
			case <-ctx.Done():
				return
			}
			if failed.Load() {
				lc <- loaded{c: c, err: errStop}
				return
			}
			l := loaded{c: c}
			if _, ok := idx.all[string(c.Hash())]; !ok {
				lc <- l
				continue
			}
			if l.data = hs.Recent(c); l.data != nil {
				lc <- l
				continue
			}
			go func() {
				l := ss.load(ctx, c)
				if l.err != nil {
					failed.Store(true)
				}
				pairs.check(ctx, &l, i == len(want)-1)
				lc <- l
			}()
		}
	}()
	return out
}

// onceReader is a Source that reads blocks for a one-time stream into a
// buffer the stream keeps until it has sent them (store.Store.ReadOnce):
// past the page cache when it does not hold them, and without a copy.
type onceReader interface {
	ReadOnce(ctx context.Context, c cid.Cid) ([]byte, func(), error)
}

// checkedReader is a onceReader that can leave the hash check to the
// server (store.Store.ReadOnceUnchecked), which checks two blocks at once.
type checkedReader interface {
	ReadOnceUnchecked(ctx context.Context, c cid.Cid) (data []byte, release func(), check bool, err error)
	Corrupt(c cid.Cid)
}

// load reads block c; absent, it has no data.
func (ss *serverStream) load(ctx context.Context, c cid.Cid) loaded {
	l := loaded{c: c}
	var err error
	if cr, ok := ss.s.src.(checkedReader); ok {
		l.data, l.release, l.unchecked, err = cr.ReadOnceUnchecked(ctx, c)
	} else if or, ok := ss.s.src.(onceReader); ok {
		l.data, l.release, err = or.ReadOnce(ctx, c)
	} else {
		err = ss.s.src.View(ctx, c, func(b []byte) error {
			bp := sendBufs.Get().(*[]byte)
			*bp = append((*bp)[:0], b...)
			l.data, l.release = *bp, func() { sendBufs.Put(bp) }
			return nil
		})
	}
	if err == nil && len(l.data) > MaxBlockSize {
		err = fmt.Errorf("block %s: %d bytes: %w", c, len(l.data), errTooLarge)
	}
	if err != nil {
		l.free()
		l.data, l.release = nil, nil
		// A block the store holds but refuses as corrupt (a verifying
		// store never hands its bytes out) is reported missing, so the
		// client asks another peer and this stream goes on.
		if ok, herr := ss.s.src.Has(ctx, c); (herr != nil || ok) && !errors.Is(err, blockstore.ErrHashMismatch) {
			l.err = err
		}
	}
	return l
}

// maxIndexBlocks bounds a DAG index (about 8 TiB of 1 MiB leaves).
const maxIndexBlocks = 8 << 20

// dagIndex lists the leaves of a DAG in depth-first order and holds the
// multihash of every block in it.
type dagIndex struct {
	leaves   []cid.Cid
	all      map[string]struct{}
	complete bool // every dag-pb node was present
}

func (s *Server) indexOf(ctx context.Context, root cid.Cid) (*dagIndex, error) {
	key := root.KeyString()
	s.mu.Lock()
	idx := s.index[key]
	s.mu.Unlock()
	if idx != nil {
		return idx, nil
	}
	idx, err := buildIndex(ctx, s.src, root)
	if err != nil {
		return nil, err
	}
	if !idx.complete {
		return idx, nil // a partial replica: rebuild once it has more
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.index[key]; !ok {
		s.index[key] = idx
		s.order = append(s.order, key)
		for len(s.order) > s.cfg.IndexCache {
			delete(s.index, s.order[0])
			s.order = s.order[1:]
		}
	}
	return idx, nil
}

func buildIndex(ctx context.Context, src Source, root cid.Cid) (*dagIndex, error) {
	idx := &dagIndex{all: make(map[string]struct{}), complete: true}
	stack := []cid.Cid{root}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		idx.all[string(c.Hash())] = struct{}{}
		if len(idx.all) > maxIndexBlocks {
			return nil, fmt.Errorf("index %s: over %d blocks", root, maxIndexBlocks)
		}
		if c.Type() != cid.DagProtobuf {
			idx.leaves = append(idx.leaves, c)
			continue
		}
		var ls []link
		err := src.View(ctx, c, func(b []byte) error {
			var err error
			ls, err = links(c, b)
			return err
		})
		if err != nil {
			if ok, herr := src.Has(ctx, c); herr == nil && !ok {
				idx.complete = false
				idx.leaves = append(idx.leaves, c)
				continue
			}
			return nil, fmt.Errorf("index %s: %w", root, err)
		}
		if len(ls) == 0 {
			idx.leaves = append(idx.leaves, c)
		}
		for i := len(ls) - 1; i >= 0; i-- {
			stack = append(stack, ls[i].c)
		}
	}
	return idx, nil
}
