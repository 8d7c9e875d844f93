package infer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cairnhub/cairn/p2p/rpc"
)

// ID is the protocol of advert queries and forwarded requests.
const ID protocol.ID = "/cairn/infer/1.0.0"

// Named timeouts and sizes of the stream side.
const (
	// RequestTimeout bounds reading the first frame of an incoming
	// stream: a request body may be MaxBody bytes on a slow link.
	RequestTimeout = 30 * time.Second
	// bufSize is the buffer of each direction of a request stream, and the
	// size at which a response is flushed as one data frame.
	bufSize = 64 << 10
)

// Handler is what a node answers on the protocol with.
type Handler interface {
	// Advert is what the node serves now.
	Advert(ctx context.Context) Advert
	// ServeForwarded runs req, which member from forwarded, writing the
	// answer to w as the node's own OpenAI server would. ctx ends when the
	// sender resets the stream.
	ServeForwarded(ctx context.Context, from peer.ID, req Request, w http.ResponseWriter)
}

// Service answers the protocol on a host and asks other members on it.
type Service struct {
	h   host.Host
	hd  Handler
	log *slog.Logger
	// ctx ends at Close, and with it every forwarded request being served.
	ctx    context.Context
	cancel context.CancelFunc
}

// New registers hd's handler for ID on h. h should admit members only (the
// node's gated host). A nil hd registers nothing: the service only asks.
func New(h host.Host, hd Handler, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	s := &Service{h: h, hd: hd, log: log}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if hd != nil {
		h.SetStreamHandler(ID, s.handle)
	}
	return s
}

// Close removes the handler and ends the forwarded requests being served.
func (s *Service) Close() error {
	s.cancel()
	if s.hd != nil {
		s.h.RemoveStreamHandler(ID)
	}
	return nil
}

// Query asks peer p what it serves, within ctx.
func (s *Service) Query(ctx context.Context, p peer.ID) (Advert, error) {
	b, err := rpc.Request(ctx, s.h, p, ID, frame(KindQuery, nil), MaxFrame+5)
	if err != nil {
		return Advert{}, err
	}
	k, payload, err := ReadFrame(bytes.NewReader(b))
	if err != nil {
		return Advert{}, err
	}
	if k != KindAdvert {
		return Advert{}, fmt.Errorf("%w: answer of kind %q to a query", ErrFrame, k)
	}
	var ad Advert
	return ad, Decode(payload, &ad)
}

// Response is the answer to a forwarded request, read frame by frame.
type Response struct {
	Head Head
	s    network.Stream
	br   *bufio.Reader
	stop func() bool
}

// Next returns the next piece of the body; end is true, with no data, once
// the serving node has sent all of it. An error means the stream was cut.
func (r *Response) Next() (data []byte, end bool, err error) {
	k, payload, err := ReadFrame(r.br)
	if err != nil {
		return nil, false, err
	}
	switch k {
	case KindData:
		return payload, false, nil
	case KindEnd:
		return nil, true, nil
	}
	return nil, false, fmt.Errorf("%w: answer frame of kind %q", ErrFrame, k)
}

// Close releases the stream; Reset aborts it, telling the serving node to
// stop.
func (r *Response) Close() error { r.stop(); return r.s.Close() }

// Reset aborts the stream.
func (r *Response) Reset() error { r.stop(); return r.s.Reset() }

// Forward sends req to p and returns once its head has arrived. The stream
// is reset when ctx ends; the caller closes the Response.
func (s *Service) Forward(ctx context.Context, p peer.ID, req Request) (*Response, error) {
	st, err := rpc.Open(ctx, s.h, p, ID)
	if err != nil {
		return nil, err
	}
	// The answer takes as long as the generation: only ctx bounds it.
	_ = st.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	fail := func(err error) (*Response, error) {
		stop()
		st.Reset()
		return nil, err
	}
	b, err := jsonFrame(KindRequest, req)
	if err != nil {
		return fail(err)
	}
	if _, err := st.Write(b); err != nil {
		return fail(err)
	}
	st.CloseWrite()
	r := &Response{s: st, br: bufio.NewReaderSize(st, bufSize), stop: stop}
	k, payload, err := ReadFrame(r.br)
	if err != nil {
		return fail(err)
	}
	if k != KindHead {
		return fail(fmt.Errorf("%w: first answer frame of kind %q", ErrFrame, k))
	}
	if err := Decode(payload, &r.Head); err != nil {
		return fail(err)
	}
	return r, nil
}

// handle answers a member's advert query or forwarded request.
func (s *Service) handle(st network.Stream) {
	defer st.Close()
	from := st.Conn().RemotePeer()
	br := bufio.NewReaderSize(st, bufSize)
	_ = st.SetReadDeadline(time.Now().Add(RequestTimeout))
	k, payload, err := ReadFrame(br)
	if err != nil {
		st.Reset()
		return
	}
	_ = st.SetReadDeadline(time.Time{})
	switch k {
	case KindQuery:
		b, err := jsonFrame(KindAdvert, s.hd.Advert(s.ctx))
		if err != nil {
			st.Reset()
			return
		}
		_ = rpc.Reply(st, b)
		return
	case KindRequest:
	default:
		st.Reset()
		return
	}
	var req Request
	if err := Decode(payload, &req); err != nil {
		s.log.Info("forwarded request refused", "peer", from, "err", err)
		st.Reset()
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	go func() { // the sender has closed its side: anything more is a reset
		if _, err := io.Copy(io.Discard, br); err != nil {
			cancel()
		}
	}()
	fw := &frameWriter{bw: bufio.NewWriterSize(st, bufSize), hdr: http.Header{}}
	s.hd.ServeForwarded(ctx, from, req, fw)
	if ctx.Err() != nil {
		// Cut short (the sender went, or this node is closing): no end
		// frame, so that the sender sees a cut, not a complete answer.
		st.Reset()
		return
	}
	fw.finish()
}

// frame is one frame's bytes.
func frame(kind byte, payload []byte) []byte {
	var b bytes.Buffer
	_ = WriteFrame(&b, kind, payload)
	return b.Bytes()
}

func jsonFrame(kind byte, v any) ([]byte, error) {
	var b bytes.Buffer
	if err := WriteJSON(&b, kind, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// frameWriter is the http.ResponseWriter of a forwarded request: the head
// goes out with the first flushed bytes, each flush as one data frame.
type frameWriter struct {
	bw       *bufio.Writer
	hdr      http.Header
	status   int
	headSent bool
	pending  []byte
	err      error
}

func (fw *frameWriter) Header() http.Header { return fw.hdr }

func (fw *frameWriter) WriteHeader(code int) {
	if fw.status == 0 {
		fw.status = code
	}
}

func (fw *frameWriter) Write(b []byte) (int, error) {
	if fw.err != nil {
		return 0, fw.err
	}
	fw.WriteHeader(http.StatusOK)
	fw.pending = append(fw.pending, b...)
	if len(fw.pending) >= bufSize {
		fw.FlushError()
	}
	return len(b), fw.err
}

func (fw *frameWriter) Flush() { fw.FlushError() }

func (fw *frameWriter) FlushError() error {
	if fw.err != nil {
		return fw.err
	}
	fw.WriteHeader(http.StatusOK)
	if !fw.headSent {
		fw.headSent = true
		h := Head{Status: fw.status, ContentType: fw.hdr.Get("Content-Type"), RetryAfter: fw.hdr.Get("Retry-After")}
		if fw.err = WriteJSON(fw.bw, KindHead, h); fw.err != nil {
			return fw.err
		}
	}
	if len(fw.pending) > 0 {
		if fw.err = WriteFrame(fw.bw, KindData, fw.pending); fw.err != nil {
			return fw.err
		}
		fw.pending = fw.pending[:0]
	}
	fw.err = fw.bw.Flush()
	return fw.err
}

// finish sends what remains and the end frame.
func (fw *frameWriter) finish() {
	if fw.FlushError() != nil {
		return
	}
	if WriteFrame(fw.bw, KindEnd, nil) == nil {
		fw.bw.Flush()
	}
}
