package gossip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cairnhub/cairn/manifest"
)

// Wire limits: a decoder checks them before it allocates.
const (
	// FormatVersion is the first byte of every message and catch-up exchange.
	FormatVersion = 1
	// MaxCertificate bounds the certificate carried in a message.
	MaxCertificate = 8 << 10
	// MaxKey bounds an intent's or a holding's key ("kind/org/name@revision").
	MaxKey = 512
	// MaxModel bounds a model name in an advert.
	MaxModel = 256
	// MaxHeld bounds the entries of one holdings summary.
	MaxHeld = 20_000
	// MaxModels bounds the models of one advert.
	MaxModels = 256
	// MaxAddrs bounds the addresses in a holdings summary or an advert,
	// MaxAddr one address (binary multiaddr).
	MaxAddrs = 16
	MaxAddr  = 512
	// MaxReplicas bounds an intent's replication factor.
	MaxReplicas = 1000
)

// ErrMalformed: bytes that do not decode (truncated, overlong, trailing data, a
// field out of bounds, an unknown format version or kind).
var ErrMalformed = errors.New("gossip: malformed message")

// Kind names a message kind; each kind has its own topic in an organisation's family.
type Kind uint8

// The message kinds.
const (
	KindPolicy      Kind = 1 + iota // a signed policy envelope
	KindRevocations                 // a signed revocation list
	KindCertificate                 // a member's renewed certificate
	KindIntent                      // a pin intent (replication wish)
	KindHoldings                    // a node's holdings summary
	KindAdvert                      // a node's model advert
	KindAudit                       // an audit checkpoint
	kindEnd
)

var kindNames = [kindEnd]string{"", "policy", "revocations", "certs", "pins", "holdings", "adverts", "audit"}

// Kinds lists every kind, in catch-up priority order.
func Kinds() []Kind {
	return []Kind{KindPolicy, KindRevocations, KindCertificate, KindIntent, KindHoldings, KindAdvert, KindAudit}
}

func (k Kind) valid() bool { return k >= KindPolicy && k < kindEnd }

func (k Kind) String() string {
	if !k.valid() {
		return fmt.Sprintf("kind(%d)", uint8(k))
	}
	return kindNames[k]
}

// Topic is the pubsub topic of kind k in organisation org's family:
// /cairn/<org>/<kind>.
func Topic(org string, k Kind) string { return "/cairn/" + org + "/" + k.String() }

// envelope is the data of every pubsub message: format version, kind, the
// author's certificate, then the kind's body.
type envelope struct {
	Kind Kind
	Cert []byte
	Body []byte
}

func encodeEnvelope(e envelope) []byte {
	b := make([]byte, 0, 2+binary.MaxVarintLen64+len(e.Cert)+len(e.Body))
	b = append(b, FormatVersion, byte(e.Kind))
	b = appendBytes(b, e.Cert)
	return append(b, e.Body...)
}

func decodeEnvelope(b []byte) (envelope, error) {
	if len(b) < 2 || b[0] != FormatVersion {
		return envelope{}, fmt.Errorf("%w: envelope: no format version %d", ErrMalformed, FormatVersion)
	}
	e := envelope{Kind: Kind(b[1])}
	if !e.Kind.valid() {
		return envelope{}, fmt.Errorf("%w: envelope: unknown kind %d", ErrMalformed, b[1])
	}
	r := reader{b: b[2:]}
	e.Cert = r.bytes(MaxCertificate, "certificate")
	if r.err != nil {
		return envelope{}, r.err
	}
	e.Body = r.b
	return e, nil
}

// Intent is a cluster-wide wish to keep a revision on Replicas nodes. Of the
// intents for one key every node keeps the same one: the greatest Version,
// then the greatest author peer ID, then a removal.
type Intent struct {
	// Key names the revision: "kind/org/name@revision".
	Key string
	// Commit, when set, is the 40-hex commit the revision named when pinned.
	Commit string
	// Replicas is the factor asked for (0: the policy's minimum).
	Replicas int
	// Version orders intents of one key; at least 1.
	Version uint64
	// Removed marks an unpin (kept so the removal spreads like a change).
	Removed bool
}

func (in Intent) validate() error {
	if err := checkKey(in.Key); err != nil {
		return fmt.Errorf("intent: %w", err)
	}
	if err := checkCommit(in.Commit); err != nil {
		return fmt.Errorf("intent %s: %w", in.Key, err)
	}
	if in.Replicas < 0 || in.Replicas > MaxReplicas {
		return fmt.Errorf("%w: intent %s: replicas %d, want 0-%d", ErrMalformed, in.Key, in.Replicas, MaxReplicas)
	}
	if in.Version == 0 {
		return fmt.Errorf("%w: intent %s: version 0", ErrMalformed, in.Key)
	}
	return nil
}

// EncodeIntent returns the body of an intent message.
func EncodeIntent(in Intent) ([]byte, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	b := binary.AppendUvarint(nil, in.Version)
	b = appendBytes(b, []byte(in.Key))
	b = appendBytes(b, []byte(in.Commit))
	b = binary.AppendUvarint(b, uint64(in.Replicas))
	return append(b, boolByte(in.Removed)), nil
}

// DecodeIntent reads an intent body from untrusted bytes.
func DecodeIntent(b []byte) (Intent, error) {
	r := reader{b: b}
	in := Intent{Version: r.uvarint("version")}
	in.Key = string(r.bytes(MaxKey, "key"))
	in.Commit = string(r.bytes(40, "commit"))
	in.Replicas = int(r.bounded(MaxReplicas, "replicas"))
	in.Removed = r.flag("removed")
	if err := r.end(); err != nil {
		return Intent{}, err
	}
	return in, in.validate()
}

// Held is one revision a node holds, fully or in part.
type Held struct {
	Key     string // "kind/org/name@revision"
	Commit  string // 40 hex, or empty when unknown
	Partial bool   // still fetching: it serves the blocks it has verified
	Replica bool   // fetched by the replicator (it may release it), not added by the operator
}

// Holdings is one node's summary of what it holds.
type Holdings struct {
	// Seq grows with every summary a node publishes; 0 when publishing: the
	// next one is picked (never below the current time in nanoseconds, so a
	// restarted node moves forward too).
	Seq uint64
	// Capacity is the free space in bytes the node offers (0: unknown).
	Capacity uint64
	// Mirror is false when the node takes no replicas.
	Mirror bool
	Held   []Held
	// Addrs are the author's addresses (binary multiaddrs, relayed ones
	// too), so that a node that is not its neighbour can dial it.
	Addrs [][]byte
}

const (
	heldPartial = 1 << iota
	heldReplica
)

func (h Holdings) validate() error {
	if h.Seq == 0 {
		return fmt.Errorf("%w: holdings: seq 0", ErrMalformed)
	}
	if err := checkAddrs(h.Addrs); err != nil {
		return fmt.Errorf("holdings: %w", err)
	}
	if len(h.Held) > MaxHeld {
		return fmt.Errorf("%w: holdings: %d entries, more than %d", ErrMalformed, len(h.Held), MaxHeld)
	}
	for i, x := range h.Held {
		if err := checkKey(x.Key); err != nil {
			return fmt.Errorf("holdings entry %d: %w", i, err)
		}
		if err := checkCommit(x.Commit); err != nil {
			return fmt.Errorf("holdings entry %d: %w", i, err)
		}
	}
	return nil
}

// EncodeHoldings returns the body of a holdings message.
func EncodeHoldings(h Holdings) ([]byte, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	b := binary.AppendUvarint(nil, h.Seq)
	b = binary.AppendUvarint(b, h.Capacity)
	b = append(b, boolByte(h.Mirror))
	b = binary.AppendUvarint(b, uint64(len(h.Held)))
	for _, x := range h.Held {
		b = appendBytes(b, []byte(x.Key))
		b = appendBytes(b, []byte(x.Commit))
		var f byte
		if x.Partial {
			f |= heldPartial
		}
		if x.Replica {
			f |= heldReplica
		}
		b = append(b, f)
	}
	return appendAddrs(b, h.Addrs), nil
}

func checkAddrs(addrs [][]byte) error {
	if len(addrs) > MaxAddrs {
		return fmt.Errorf("%w: %d addresses, more than %d", ErrMalformed, len(addrs), MaxAddrs)
	}
	for i, a := range addrs {
		if len(a) == 0 || len(a) > MaxAddr {
			return fmt.Errorf("%w: address %d: want 1-%d bytes", ErrMalformed, i, MaxAddr)
		}
	}
	return nil
}

func appendAddrs(b []byte, addrs [][]byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(addrs)))
	for _, a := range addrs {
		b = appendBytes(b, a)
	}
	return b
}

func (r *reader) addrs() [][]byte {
	var out [][]byte
	for range r.count(MaxAddrs, 2, "addrs") {
		out = append(out, append([]byte(nil), r.bytes(MaxAddr, "addr")...))
	}
	return out
}

// DecodeHoldings reads a holdings body from untrusted bytes.
func DecodeHoldings(b []byte) (Holdings, error) {
	r := reader{b: b}
	h := Holdings{Seq: r.uvarint("seq"), Capacity: r.uvarint("capacity"), Mirror: r.flag("mirror")}
	// Each entry takes at least 3 bytes: the count cannot promise more.
	n := r.count(MaxHeld, 3, "held")
	if n > 0 {
		h.Held = make([]Held, 0, n)
	}
	for range n {
		x := Held{Key: string(r.bytes(MaxKey, "key")), Commit: string(r.bytes(40, "commit"))}
		f := r.byte("flags")
		if f&^(heldPartial|heldReplica) != 0 {
			r.fail("flags")
		}
		x.Partial, x.Replica = f&heldPartial != 0, f&heldReplica != 0
		h.Held = append(h.Held, x)
	}
	h.Addrs = r.addrs()
	if err := r.end(); err != nil {
		return Holdings{}, err
	}
	return h, h.validate()
}

// Advert is what a node serves for inference and how busy it is.
type Advert struct {
	// Seq orders a node's adverts; 0 when publishing: the next one is picked.
	Seq uint64
	// Load is the number of requests in flight; Slots how many it takes at
	// once (0: unknown).
	Load, Slots uint32
	// Models are the model names served, sorted, unique.
	Models []string
	// Addrs are the author's addresses (binary multiaddrs), so that a node
	// that is not its neighbour can dial it.
	Addrs [][]byte
}

func (a Advert) validate() error {
	if a.Seq == 0 {
		return fmt.Errorf("%w: advert: seq 0", ErrMalformed)
	}
	if err := checkAddrs(a.Addrs); err != nil {
		return fmt.Errorf("advert: %w", err)
	}
	if len(a.Models) > MaxModels {
		return fmt.Errorf("%w: advert: %d models, more than %d", ErrMalformed, len(a.Models), MaxModels)
	}
	for i, m := range a.Models {
		if m == "" || len(m) > MaxModel || !printable(m) {
			return fmt.Errorf("%w: advert: model %d: want 1-%d printable bytes", ErrMalformed, i, MaxModel)
		}
		if i > 0 && a.Models[i-1] >= m {
			return fmt.Errorf("%w: advert: models not sorted and unique at %d", ErrMalformed, i)
		}
	}
	return nil
}

// EncodeAdvert returns the body of an advert message; Models are sorted and
// de-duplicated first.
func EncodeAdvert(a Advert) ([]byte, error) {
	a.Models = slices.Compact(slices.Sorted(slices.Values(a.Models)))
	if err := a.validate(); err != nil {
		return nil, err
	}
	b := binary.AppendUvarint(nil, a.Seq)
	b = binary.AppendUvarint(b, uint64(a.Load))
	b = binary.AppendUvarint(b, uint64(a.Slots))
	b = binary.AppendUvarint(b, uint64(len(a.Models)))
	for _, m := range a.Models {
		b = appendBytes(b, []byte(m))
	}
	return appendAddrs(b, a.Addrs), nil
}

// DecodeAdvert reads an advert body from untrusted bytes.
func DecodeAdvert(b []byte) (Advert, error) {
	r := reader{b: b}
	a := Advert{Seq: r.uvarint("seq")}
	a.Load = uint32(r.bounded(1<<32-1, "load"))
	a.Slots = uint32(r.bounded(1<<32-1, "slots"))
	n := r.count(MaxModels, 2, "models")
	if n > 0 {
		a.Models = make([]string, 0, n)
	}
	for range n {
		a.Models = append(a.Models, string(r.bytes(MaxModel, "model")))
	}
	a.Addrs = r.addrs()
	if err := r.end(); err != nil {
		return Advert{}, err
	}
	return a, a.validate()
}

// Checkpoint is an audit checkpoint: opaque signed bytes from the audit log,
// ordered per node by Seq.
type Checkpoint struct {
	Seq    uint64 // the checkpoint's sequence; at least 1
	Signed []byte
}

// EncodeCheckpoint returns the body of an audit message.
func EncodeCheckpoint(c Checkpoint) ([]byte, error) {
	if c.Seq == 0 || len(c.Signed) == 0 {
		return nil, fmt.Errorf("%w: checkpoint: seq 0 or no bytes", ErrMalformed)
	}
	return append(binary.AppendUvarint(nil, c.Seq), c.Signed...), nil
}

// DecodeCheckpoint reads an audit body from untrusted bytes.
func DecodeCheckpoint(b []byte) (Checkpoint, error) {
	r := reader{b: b}
	c := Checkpoint{Seq: r.uvarint("seq")}
	if r.err != nil {
		return Checkpoint{}, r.err
	}
	c.Signed = r.b
	if c.Seq == 0 || len(c.Signed) == 0 {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint: seq 0 or no bytes", ErrMalformed)
	}
	return c, nil
}

// encodeRequest is the catch-up request: format version and the kinds wanted
// as a bit set.
func encodeRequest(kinds []Kind) []byte {
	var set byte
	for _, k := range kinds {
		set |= 1 << k
	}
	return []byte{FormatVersion, set}
}

func decodeRequest(b []byte) ([]Kind, error) {
	if len(b) != 2 || b[0] != FormatVersion || b[1]&1 != 0 {
		return nil, fmt.Errorf("%w: catch-up request", ErrMalformed)
	}
	var out []Kind
	for _, k := range Kinds() {
		if b[1]&(1<<k) != 0 {
			out = append(out, k)
		}
	}
	return out, nil
}

// encodeState is the catch-up answer: format version, a count, then each
// stored pubsub message (marshalled, signature included).
func encodeState(msgs [][]byte) []byte {
	n := 1 + binary.MaxVarintLen64
	for _, m := range msgs {
		n += binary.MaxVarintLen64 + len(m)
	}
	b := make([]byte, 0, n)
	b = append(b, FormatVersion)
	b = binary.AppendUvarint(b, uint64(len(msgs)))
	for _, m := range msgs {
		b = appendBytes(b, m)
	}
	return b
}

func decodeState(b []byte, maxMsg int) ([][]byte, error) {
	if len(b) < 1 || b[0] != FormatVersion {
		return nil, fmt.Errorf("%w: catch-up answer: no format version %d", ErrMalformed, FormatVersion)
	}
	r := reader{b: b[1:]}
	n := r.count(len(b), 1, "messages")
	out := make([][]byte, 0, n)
	for range n {
		out = append(out, r.bytes(maxMsg, "message"))
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return out, nil
}

func checkKey(k string) error {
	if k == "" || len(k) > MaxKey || !printable(k) {
		return fmt.Errorf("%w: key: want 1-%d printable bytes", ErrMalformed, MaxKey)
	}
	return nil
}

func checkCommit(c string) error {
	if c == "" {
		return nil
	}
	if err := manifest.ValidateCommit(c); err != nil {
		return fmt.Errorf("%w: commit: %w", ErrMalformed, err)
	}
	return nil
}

// printable: visible ASCII only, so keys and names never carry control bytes
// into logs or file names.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendBytes(b, v []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

// reader decodes fields in order; the first failure sticks and later reads
// return zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(field string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: field %q", ErrMalformed, field)
	}
}

func (r *reader) uvarint(field string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	// Only the shortest encoding: one value, one byte string.
	if n <= 0 || n != uvarintLen(v) {
		r.fail(field)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

func (r *reader) bounded(max uint64, field string) uint64 {
	v := r.uvarint(field)
	if v > max {
		r.fail(field)
		return 0
	}
	return v
}

// count reads an element count no greater than max and than the bytes left
// allow at min bytes per element.
func (r *reader) count(max, min int, field string) int {
	v := r.bounded(uint64(max), field)
	if v > uint64(len(r.b)/min) {
		r.fail(field)
		return 0
	}
	return int(v)
}

func (r *reader) bytes(max int, field string) []byte {
	n := r.bounded(uint64(max), field)
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail(field)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte(field string) byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail(field)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) flag(field string) bool {
	v := r.byte(field)
	if v > 1 {
		r.fail(field)
	}
	return v == 1
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	return r.err
}
