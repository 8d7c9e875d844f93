package sovereignty

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Signer signs audit checkpoints. The node passes its libp2p identity key:
// KeySigner over the raw ed25519 key, or an adapter over crypto.PrivKey.
type Signer interface {
	Public() ed25519.PublicKey
	Sign(msg []byte) ([]byte, error)
}

// KeySigner signs with an ed25519 private key (64 bytes: what a libp2p
// Ed25519 identity key's Raw method returns). A key of another length
// makes OpenAuditWith fail.
func KeySigner(k ed25519.PrivateKey) Signer { return keySigner(k) }

type keySigner ed25519.PrivateKey

func (k keySigner) Public() ed25519.PublicKey {
	if len(k) != ed25519.PrivateKeySize {
		return nil
	}
	return ed25519.PrivateKey(k).Public().(ed25519.PublicKey)
}

func (k keySigner) Sign(msg []byte) ([]byte, error) {
	if len(k) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("checkpoint signer: %w", ErrBadKey)
	}
	return ed25519.Sign(ed25519.PrivateKey(k), msg), nil
}

const (
	checkpointHeader = "cairn-audit-checkpoint-v1"
	// MaxCheckpointSize bounds ParseCheckpoint's input.
	MaxCheckpointSize = 1024
)

var checkpointKeys = []string{"node", "seq", "head", "time", "final", "key", "signature"}

// Checkpoint is a node's signed statement that its audit log held Seq
// entries, the last of which hashes to Head. Its encoding is a short text
// document, like a certificate:
//
//	cairn-audit-checkpoint-v1
//	node: 12D3KooW...
//	seq: 42
//	head: 9f86d0...
//	time: 2026-11-26T10:00:00Z
//	final: false
//	key: <ed25519 public key, unpadded base64url>
//	signature: <ed25519 over every byte before this line>
//
// A checkpoint is appended to the log it covers (entry Seq+1) and kept by
// other members, so neither truncation nor a rewritten chain goes unseen.
type Checkpoint struct {
	Node      string            // peer ID of the node whose log it covers
	Seq       uint64            // entries covered: 1..Seq (0 for an empty log)
	Head      string            // hex line hash of entry Seq (zeros when Seq is 0)
	Time      time.Time         // UTC, second precision
	Final     bool              // written at a clean shutdown: nothing may follow but a checkpoint
	Key       ed25519.PublicKey // the signer's public key
	Signature []byte
}

func (c *Checkpoint) signedPart() []byte {
	b := []byte(checkpointHeader + "\n")
	b = appendField(b, "node", c.Node)
	b = appendField(b, "seq", strconv.FormatUint(c.Seq, 10))
	b = appendField(b, "head", c.Head)
	b = appendField(b, "time", formatTime(c.Time))
	b = appendField(b, "final", strconv.FormatBool(c.Final))
	return appendField(b, "key", b64.EncodeToString(c.Key))
}

// Marshal returns the canonical encoding of a signed checkpoint.
func (c *Checkpoint) Marshal() []byte {
	return appendField(c.signedPart(), "signature", b64.EncodeToString(c.Signature))
}

func (c *Checkpoint) validate() error {
	const doc = "checkpoint"
	switch {
	case !validPeerID(c.Node):
		return fmt.Errorf("%s: field \"node\": want a peer ID: %w", doc, ErrBadField)
	case !validHead(c.Head):
		return fmt.Errorf("%s: field \"head\": want 64 lower-case hex digits: %w", doc, ErrBadField)
	case c.Seq == 0 && c.Head != genesisPrev:
		return fmt.Errorf("%s: seq 0 with a non-zero head: %w", doc, ErrBadField)
	case len(c.Key) != ed25519.PublicKeySize:
		return fmt.Errorf("%s: field \"key\": %w", doc, ErrBadKey)
	}
	return nil
}

func validHead(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Verify checks the signature against the checkpoint's own key. Whether
// that key is the node's is the caller's question (key, or the peer ID).
func (c *Checkpoint) Verify() error {
	if err := c.validate(); err != nil {
		return err
	}
	if len(c.Signature) != ed25519.SignatureSize || !ed25519.Verify(c.Key, c.signedPart(), c.Signature) {
		return fmt.Errorf("checkpoint of %s at seq %d: %w", c.Node, c.Seq, ErrBadSignature)
	}
	return nil
}

// signCheckpoint fills Key and Signature.
func signCheckpoint(s Signer, c Checkpoint) (Checkpoint, error) {
	c.Time = c.Time.UTC().Truncate(time.Second)
	c.Key = s.Public()
	if err := c.validate(); err != nil {
		return c, err
	}
	sig, err := s.Sign(c.signedPart())
	if err != nil {
		return c, fmt.Errorf("sign checkpoint: %w", err)
	}
	c.Signature = sig
	if err := c.Verify(); err != nil {
		return c, fmt.Errorf("sign checkpoint: signer's signature does not verify with its public key: %w", err)
	}
	return c, nil
}

// ParseCheckpoint decodes a checkpoint strictly (size limit, header, field
// order, value syntax, canonical form). It does not check the signature;
// (*Checkpoint).Verify does.
func ParseCheckpoint(b []byte) (*Checkpoint, error) {
	const doc = "checkpoint"
	if len(b) > MaxCheckpointSize {
		return nil, fmt.Errorf("%s: %d bytes, limit %d: %w", doc, len(b), MaxCheckpointSize, ErrTooLarge)
	}
	fs, err := splitFields(doc, b, checkpointHeader)
	if err != nil {
		return nil, err
	}
	if err := expectKeys(doc, fs, checkpointKeys); err != nil {
		return nil, err
	}
	v := func(i int) string { return fs[i].val }
	c := &Checkpoint{Node: v(0), Head: v(2)}
	if c.Seq, err = strconv.ParseUint(v(1), 10, 64); err != nil {
		return nil, fmt.Errorf("%s: field \"seq\": %w", doc, ErrBadField)
	}
	if c.Time, err = parseTime(doc, "time", v(3)); err != nil {
		return nil, err
	}
	if c.Final, err = strconv.ParseBool(v(4)); err != nil {
		return nil, fmt.Errorf("%s: field \"final\": %w", doc, ErrBadField)
	}
	if c.Key, err = b64.DecodeString(v(5)); err != nil {
		return nil, fmt.Errorf("%s: field \"key\": %w", doc, ErrBadKey)
	}
	if c.Signature, err = parseSig(doc, v(6)); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	if !bytes.Equal(c.Marshal(), b) {
		return nil, fmt.Errorf("%s: not in canonical form: %w", doc, ErrMalformed)
	}
	return c, nil
}

// sidecarPath is where Checkpoint keeps the latest checkpoint beside the log,
// so a tail cut below it is caught locally too (as long as the file is
// left alone; members' copies cover the rest).
func sidecarPath(logPath string) string { return logPath + ".checkpoint" }

// readSidecar returns the checkpoint kept beside the log, nil when none.
func readSidecar(logPath string) (*Checkpoint, error) {
	b, err := os.ReadFile(sidecarPath(logPath))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	c, err := ParseCheckpoint(b)
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint %s: %w", sidecarPath(logPath), err)
	}
	if err := c.Verify(); err != nil {
		return nil, fmt.Errorf("audit checkpoint %s: %w", sidecarPath(logPath), err)
	}
	return c, nil
}

// writeSidecar replaces the checkpoint beside the log atomically.
func writeSidecar(logPath string, c *Checkpoint) error {
	p := sidecarPath(logPath)
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	_, err = f.Write(c.Marshal())
	if err == nil {
		err = syncFile(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("audit checkpoint %s: %w", p, err)
	}
	if d, err := os.Open(filepath.Dir(p)); err == nil {
		syncFile(d)
		d.Close()
	}
	return nil
}

// syncFile is (*os.File).Sync; the open fuzzer replaces it, since a disk
// flush per input would leave it a handful of inputs a minute.
var syncFile = (*os.File).Sync
