package p2p

import (
	"bufio"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cairnhub/cairn/sovereignty"
)

// Limits of the member and revocation protocol messages. A frame is bounded before it
// is read, so a peer cannot make this host allocate more than MaxMessageSize per stream.
const (
	// MaxMessageSize bounds one framed message.
	MaxMessageSize = 4 << 20
	// maxVersions bounds the revocation list versions a message carries (one per
	// trusted organisation).
	maxVersions = 256
	// maxLists bounds the revocation lists one message carries.
	maxLists = 16
	// wireVersion is the message format version; a message of another version is
	// refused so that a future format fails loudly.
	wireVersion = 1
)

var errBadMessage = errors.New("malformed member message")

// orgVersion is the version of the revocation list a node holds for one organisation.
type orgVersion struct {
	OrgKey  ed25519.PublicKey
	Version uint64
}

// message is what both sides of a hello, and the revocation push, send. A field may be
// empty: the dialler's last message carries only Lists, a push carries only Lists.
type message struct {
	Cert     []byte       // encoded node certificate of the sender
	Versions []orgVersion // revocation list versions the sender holds
	Lists    [][]byte     // signed revocation lists the receiver lacks
	// Refusal, when set, is why the sender refuses the receiver's certificate:
	// sent instead of a certificate, so that the refused node's log says why.
	Refusal string
}

// maxRefusal bounds a refusal reason.
const maxRefusal = 512

// encode returns the body of m (without the frame length).
func (m *message) encode() []byte {
	b := []byte{wireVersion}
	b = binary.AppendUvarint(b, uint64(len(m.Cert)))
	b = append(b, m.Cert...)
	b = binary.AppendUvarint(b, uint64(len(m.Versions)))
	for _, v := range m.Versions {
		b = append(b, v.OrgKey...)
		b = binary.AppendUvarint(b, v.Version)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Lists)))
	for _, l := range m.Lists {
		b = binary.AppendUvarint(b, uint64(len(l)))
		b = append(b, l...)
	}
	if m.Refusal != "" {
		r := m.Refusal[:min(len(m.Refusal), maxRefusal)]
		b = binary.AppendUvarint(b, uint64(len(r)))
		b = append(b, r...)
	}
	return b
}

// decodeMessage parses a message body strictly: every length is bounded, and trailing
// bytes are an error.
func decodeMessage(b []byte) (*message, error) {
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", errBadMessage, len(b), MaxMessageSize)
	}
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != wireVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", errBadMessage, v, wireVersion)
	}
	m := &message{}
	m.Cert = d.bytes(sovereignty.MaxCertificateSize, "certificate")
	n := d.count(maxVersions, "versions")
	for i := uint64(0); i < n && d.err == nil; i++ {
		k := d.fixed(ed25519.PublicKeySize, "org key")
		m.Versions = append(m.Versions, orgVersion{OrgKey: ed25519.PublicKey(k), Version: d.uvarint("version")})
	}
	n = d.count(maxLists, "lists")
	for i := uint64(0); i < n && d.err == nil; i++ {
		m.Lists = append(m.Lists, d.bytes(sovereignty.MaxRevocationsSize, "revocation list"))
	}
	if d.err == nil && len(d.b) != 0 { // an optional refusal reason closes the message
		if r := d.bytes(maxRefusal, "refusal"); len(r) > 0 {
			m.Refusal = string(r)
		} else if d.err == nil {
			d.err = fmt.Errorf("%w: empty refusal", errBadMessage)
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errBadMessage, len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}

// decoder reads fields from b and keeps the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or invalid %s", errBadMessage, what)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail("header")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	// A varint longer than needed is refused: one message has one encoding.
	if n <= 0 || n != len(binary.AppendUvarint(nil, v)) {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) count(limit uint64, what string) uint64 {
	n := d.uvarint(what + " count")
	if d.err == nil && n > limit {
		d.err = fmt.Errorf("%w: %d %s, limit %d", errBadMessage, n, what, limit)
		return 0
	}
	return n
}

func (d *decoder) fixed(n int, what string) []byte {
	if d.err != nil || len(d.b) < n {
		d.fail(what)
		return nil
	}
	v := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(limit int, what string) []byte {
	n := d.uvarint(what + " length")
	if d.err != nil {
		return nil
	}
	if n > uint64(limit) {
		d.err = fmt.Errorf("%w: %s of %d bytes, limit %d", errBadMessage, what, n, limit)
		return nil
	}
	if n == 0 {
		return nil
	}
	return d.fixed(int(n), what)
}

// writeMessage writes m as one frame: uvarint body length, then the body.
func writeMessage(w io.Writer, m *message) error {
	body := m.encode()
	if len(body) > MaxMessageSize {
		return fmt.Errorf("member message: %d bytes, limit %d", len(body), MaxMessageSize)
	}
	frame := binary.AppendUvarint(make([]byte, 0, len(body)+binary.MaxVarintLen64), uint64(len(body)))
	_, err := w.Write(append(frame, body...))
	return err
}

// maxFirstMessage bounds the dialler's first hello message, read from a peer not yet
// verified: a certificate and versions fit, revocation lists (sent only once the
// peer is verified) do not, so a stranger cannot make us buffer megabytes.
const maxFirstMessage = 16 << 10

// readMessage reads one frame written by writeMessage, of at most limit bytes; the
// length is checked before the body is allocated.
func readMessage(r *bufio.Reader, limit int) (*message, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, fmt.Errorf("member message length: %w", err)
	}
	if n > uint64(limit) {
		return nil, fmt.Errorf("%w: frame of %d bytes, limit %d", errBadMessage, n, limit)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("member message body: %w", err)
	}
	return decodeMessage(body)
}
