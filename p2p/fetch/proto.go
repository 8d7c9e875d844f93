package fetch

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// ProtocolID is the libp2p protocol of Cairn's bulk transfer.
const ProtocolID protocol.ID = "/cairn/fetch/1.0.0"

// Limits of the wire format. They bound what a decoder allocates before it
// has seen the bytes, so a hostile peer cannot make us reserve memory.
const (
	// MaxBlockSize is the largest block a frame may carry (Cairn makes
	// blocks of at most 1 MiB; IPFS tools accept up to 2 MiB).
	MaxBlockSize = 2 << 20
	// MaxCIDLen bounds one encoded CID.
	MaxCIDLen = 128
	// MaxRequestCIDs bounds the CIDs (or the leaf range) of one request.
	MaxRequestCIDs = 8192
	// MaxRequestSize bounds one encoded request.
	MaxRequestSize = 1 + 1 + 10 + MaxCIDLen + 10 + MaxRequestCIDs*(1+MaxCIDLen)
	// MaxErrorLen bounds the message of an error frame.
	MaxErrorLen = 1024
	// MaxHaveLeaves bounds the leaves a have frame describes (the leaves
	// of one DAG index); its bitfield is at most 1 MiB.
	MaxHaveLeaves = maxIndexBlocks
	// MaxHaveDelta bounds the leaf indexes of one delta have frame.
	MaxHaveDelta = 64 << 10

	wireVersion = 1
)

// Kind says what a request asks for.
type Kind byte

const (
	// KindDAG asks for every block of the DAG under Root, in depth-first
	// pre-order.
	KindDAG Kind = 1
	// KindStructure asks for the dag-pb nodes with links under Root
	// (Root always first), in depth-first pre-order.
	KindStructure Kind = 2
	// KindLeaves asks for leaves [Start, End) of the DAG under Root, leaves
	// numbered in depth-first order from 0.
	KindLeaves Kind = 3
	// KindCIDs asks for the listed blocks, each of which must belong to
	// the DAG under Root, in the listed order.
	KindCIDs Kind = 4
	// KindProbe asks nothing but whether the server would serve Root: the
	// answer is an end frame or an error frame. It measures round trips.
	KindProbe Kind = 5
	// KindHave asks which leaves of the DAG under Root the server holds:
	// the answer is one have frame and an end frame. Since is the
	// generation of the last have frame the client applied (0: none);
	// when the server's set is still at that generation it waits up to
	// its HaveWait for a change before answering.
	KindHave Kind = 6
)

func (k Kind) String() string {
	switch k {
	case KindDAG:
		return "dag"
	case KindStructure:
		return "structure"
	case KindLeaves:
		return "leaves"
	case KindCIDs:
		return "cids"
	case KindProbe:
		return "probe"
	case KindHave:
		return "have"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// Request is one request of the client. A stream carries any number of
// them, one after another; the server answers each in turn, ending each
// answer with an end frame.
type Request struct {
	Kind       Kind
	Root       cid.Cid
	Start, End uint64    // KindLeaves only
	CIDs       []cid.Cid // KindCIDs only
	Since      uint64    // KindHave only
}

// FrameType says what a response frame carries.
type FrameType byte

const (
	// FrameBlock carries one block: cid, length, bytes.
	FrameBlock FrameType = 1
	// FrameMissing says the server lacks the named block (ask elsewhere).
	FrameMissing FrameType = 2
	// FrameEnd ends the answer to one request.
	FrameEnd FrameType = 3
	// FrameError refuses the request (or reports a failure); the server
	// closes the stream after it.
	FrameError FrameType = 4
	// FrameHave answers KindHave: the server's have-set of the root.
	FrameHave FrameType = 5
)

// Frame is one decoded response frame.
type Frame struct {
	Type FrameType
	CID  cid.Cid // FrameBlock, FrameMissing
	Data []byte  // FrameBlock
	Msg  string  // FrameError
	Have Have    // FrameHave
}

var (
	errBadVersion = errors.New("unknown wire version")
	errTooLarge   = errors.New("exceeds size limit")
)

// AppendRequest appends the encoding of r (without the length prefix).
func AppendRequest(b []byte, r Request) ([]byte, error) {
	if !r.Root.Defined() {
		return nil, errors.New("request: root CID undefined")
	}
	b = append(b, wireVersion, byte(r.Kind))
	b = appendCID(b, r.Root)
	switch r.Kind {
	case KindDAG, KindStructure, KindProbe:
	case KindHave:
		b = binary.AppendUvarint(b, r.Since)
	case KindLeaves:
		if r.End <= r.Start || r.End-r.Start > MaxRequestCIDs {
			return nil, fmt.Errorf("request: leaf range [%d,%d): empty or over %d leaves", r.Start, r.End, MaxRequestCIDs)
		}
		b = binary.AppendUvarint(b, r.Start)
		b = binary.AppendUvarint(b, r.End)
	case KindCIDs:
		if len(r.CIDs) == 0 || len(r.CIDs) > MaxRequestCIDs {
			return nil, fmt.Errorf("request: %d CIDs, want 1..%d", len(r.CIDs), MaxRequestCIDs)
		}
		b = binary.AppendUvarint(b, uint64(len(r.CIDs)))
		for _, c := range r.CIDs {
			if !c.Defined() {
				return nil, errors.New("request: undefined CID in list")
			}
			b = appendCID(b, c)
		}
	default:
		return nil, fmt.Errorf("request: unknown kind %d", r.Kind)
	}
	return b, nil
}

func appendCID(b []byte, c cid.Cid) []byte {
	k := c.KeyString()
	b = binary.AppendUvarint(b, uint64(len(k)))
	return append(b, k...)
}

// DecodeRequest decodes one request (without the length prefix). It
// accepts exactly what AppendRequest produces.
func DecodeRequest(b []byte) (Request, error) {
	var r Request
	if len(b) > MaxRequestSize {
		return r, fmt.Errorf("request: %d bytes: %w", len(b), errTooLarge)
	}
	if len(b) < 2 {
		return r, fmt.Errorf("request: %w", io.ErrUnexpectedEOF)
	}
	if b[0] != wireVersion {
		return r, fmt.Errorf("request: version %d: %w", b[0], errBadVersion)
	}
	r.Kind = Kind(b[1])
	d := decoder{b: b[2:]}
	r.Root = d.cid()
	switch r.Kind {
	case KindDAG, KindStructure, KindProbe:
	case KindHave:
		r.Since = d.uvarint()
	case KindLeaves:
		r.Start = d.uvarint()
		r.End = d.uvarint()
		if d.err == nil && (r.End <= r.Start || r.End-r.Start > MaxRequestCIDs) {
			d.err = fmt.Errorf("leaf range [%d,%d): empty or over %d leaves", r.Start, r.End, MaxRequestCIDs)
		}
	case KindCIDs:
		n := d.uvarint()
		if d.err == nil && (n == 0 || n > MaxRequestCIDs) {
			d.err = fmt.Errorf("%d CIDs, want 1..%d", n, MaxRequestCIDs)
		}
		if d.err == nil {
			r.CIDs = make([]cid.Cid, 0, min(n, uint64(len(d.b)/2)+1))
			for i := uint64(0); i < n && d.err == nil; i++ {
				r.CIDs = append(r.CIDs, d.cid())
			}
		}
	default:
		d.err = fmt.Errorf("unknown kind %d", byte(r.Kind))
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return Request{}, fmt.Errorf("request: %w", d.err)
	}
	return r, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) cid() cid.Cid {
	n := d.uvarint()
	if d.err != nil {
		return cid.Undef
	}
	if n == 0 || n > MaxCIDLen || n > uint64(len(d.b)) {
		d.err = fmt.Errorf("CID length %d: bad or truncated", n)
		return cid.Undef
	}
	c, err := cid.Cast(d.b[:n])
	if err != nil {
		d.err = fmt.Errorf("CID: %w", err)
		return cid.Undef
	}
	d.b = d.b[n:]
	return c
}

// writeRequest writes r with its uvarint length prefix.
func writeRequest(w io.Writer, r Request) error {
	body, err := AppendRequest(make([]byte, binary.MaxVarintLen64, 64+len(r.CIDs)*40), r)
	if err != nil {
		return err
	}
	n := len(body) - binary.MaxVarintLen64
	var pre [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(pre[:], uint64(n))
	start := binary.MaxVarintLen64 - k
	copy(body[start:], pre[:k])
	_, err = w.Write(body[start:])
	return err
}

// readRequest reads one length-prefixed request. It returns io.EOF when
// the stream ends cleanly between requests.
func readRequest(r *bufio.Reader) (Request, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Request{}, io.EOF
		}
		return Request{}, fmt.Errorf("request length: %w", err)
	}
	if n > MaxRequestSize {
		return Request{}, fmt.Errorf("request: %d bytes: %w", n, errTooLarge)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return Request{}, fmt.Errorf("request body: %w", noEOF(err))
	}
	return DecodeRequest(b)
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// appendFrameHeader appends the header of a frame; for a block frame the
// caller writes the n data bytes right after it.
func appendFrameHeader(b []byte, t FrameType, c cid.Cid, n int) []byte {
	b = append(b, byte(t))
	switch t {
	case FrameBlock:
		b = appendCID(b, c)
		b = binary.AppendUvarint(b, uint64(n))
	case FrameMissing:
		b = appendCID(b, c)
	}
	return b
}

// AppendFrame appends the complete encoding of f.
func AppendFrame(b []byte, f Frame) ([]byte, error) {
	switch f.Type {
	case FrameBlock:
		if len(f.Data) > MaxBlockSize {
			return nil, fmt.Errorf("frame: block of %d bytes: %w", len(f.Data), errTooLarge)
		}
		b = appendFrameHeader(b, f.Type, f.CID, len(f.Data))
		return append(b, f.Data...), nil
	case FrameMissing, FrameEnd:
		return appendFrameHeader(b, f.Type, f.CID, 0), nil
	case FrameHave:
		return appendHave(append(b, byte(FrameHave)), f.Have)
	case FrameError:
		msg := f.Msg
		if len(msg) > MaxErrorLen {
			msg = msg[:MaxErrorLen]
		}
		b = append(b, byte(FrameError))
		b = binary.AppendUvarint(b, uint64(len(msg)))
		return append(b, msg...), nil
	}
	return nil, fmt.Errorf("frame: unknown type %d", f.Type)
}

// ReadFrame reads one frame. Block data is read into a fresh slice the
// caller owns. It returns io.EOF only when the stream ends before a frame
// starts.
func ReadFrame(r *bufio.Reader) (Frame, error) {
	var f Frame
	t, err := r.ReadByte()
	if err != nil {
		return f, err
	}
	f.Type = FrameType(t)
	switch f.Type {
	case FrameBlock, FrameMissing:
		if f.CID, err = readCID(r); err != nil {
			return Frame{}, fmt.Errorf("frame: %w", err)
		}
		if f.Type == FrameMissing {
			return f, nil
		}
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return Frame{}, fmt.Errorf("frame: block length: %w", noEOF(err))
		}
		if n > MaxBlockSize {
			return Frame{}, fmt.Errorf("frame: block of %d bytes: %w", n, errTooLarge)
		}
		f.Data = make([]byte, n)
		if _, err := io.ReadFull(r, f.Data); err != nil {
			return Frame{}, fmt.Errorf("frame: block data: %w", noEOF(err))
		}
	case FrameEnd:
	case FrameHave:
		if f.Have, err = readHave(r); err != nil {
			return Frame{}, fmt.Errorf("frame: %w", err)
		}
	case FrameError:
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return Frame{}, fmt.Errorf("frame: error length: %w", noEOF(err))
		}
		if n > MaxErrorLen {
			return Frame{}, fmt.Errorf("frame: error of %d bytes: %w", n, errTooLarge)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(r, msg); err != nil {
			return Frame{}, fmt.Errorf("frame: error text: %w", noEOF(err))
		}
		f.Msg = string(msg)
	default:
		return Frame{}, fmt.Errorf("frame: unknown type %d", t)
	}
	return f, nil
}

func readCID(r *bufio.Reader) (cid.Cid, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return cid.Undef, fmt.Errorf("CID length: %w", noEOF(err))
	}
	if n == 0 || n > MaxCIDLen {
		return cid.Undef, fmt.Errorf("CID length %d: %w", n, errTooLarge)
	}
	var buf [MaxCIDLen]byte
	if _, err := io.ReadFull(r, buf[:n]); err != nil {
		return cid.Undef, fmt.Errorf("CID: %w", noEOF(err))
	}
	c, err := cid.Cast(buf[:n])
	if err != nil {
		return cid.Undef, fmt.Errorf("CID: %w", err)
	}
	return c, nil
}
