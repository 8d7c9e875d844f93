package sovereignty

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// VerifyOptions say what an audit log is checked against besides itself.
type VerifyOptions struct {
	// Key is the node's public key, which every checkpoint must be signed
	// with. Nil trusts the key of the checkpoint kept beside the log, else
	// the log's first checkpoint: that catches edits by whoever lacks the
	// node's key, but not a chain re-signed throughout with another key.
	Key ed25519.PublicKey
	// Peers are checkpoints of this log held by other members. One the log
	// does not reach (its tail was cut) or whose head differs (rewritten)
	// fails the check.
	Peers []Checkpoint
}

// AuditReport is what a verification found.
type AuditReport struct {
	Entries     uint64
	Head        string            // line hash of the last entry (see Head)
	Checkpoints int               // signed checkpoints verified in the log
	Latest      *Checkpoint       // the log's last checkpoint; nil when none
	Clean       bool              // the log ends with a final checkpoint
	Key         ed25519.PublicKey // the key its checkpoints are signed with
}

// VerifyAudit checks the log at path: see VerifyAuditLog.
func VerifyAudit(path string) error {
	_, err := VerifyAuditLog(path, VerifyOptions{})
	return err
}

// CheckAudit is VerifyAudit that also returns the number of entries and the
// head hash (see Head) when the log is intact.
func CheckAudit(path string) (n uint64, head string, err error) {
	r, err := VerifyAuditLog(path, VerifyOptions{})
	if err != nil {
		return 0, "", err
	}
	return r.Entries, r.Head, nil
}

// VerifyAuditLog checks the whole log at path: every line decodes strictly,
// is canonical, has the next sequence number, the hash of the previous line
// and a correct hash; every checkpoint entry names the chain before it and
// is signed by the node's key; after a final checkpoint only a checkpoint
// follows; and the checkpoint kept beside the log and o.Peers are reached
// by the log with the same heads. A broken log gives an *AuditError
// (wrapping ErrAuditBroken) naming the first bad line; a peer checkpoint
// with a bad signature or another key gives an error wrapping
// ErrBadSignature.
func VerifyAuditLog(path string, o VerifyOptions) (AuditReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return AuditReport{}, fmt.Errorf("verify audit log: %w", err)
	}
	defer f.Close()
	side, err := readSidecar(path)
	if err != nil {
		return AuditReport{}, err
	}
	v := &chainVerifier{path: path, key: o.Key, prev: genesisPrev, held: map[uint64]heldCheckpoint{}}
	if side != nil {
		if err := v.hold(*side, sidecarPath(path)); err != nil {
			return AuditReport{}, err
		}
	}
	for i, cp := range o.Peers {
		if err := v.hold(cp, fmt.Sprintf("member checkpoint %d", i+1)); err != nil {
			return AuditReport{}, err
		}
	}
	return v.run(f)
}

// Verify checks the open log against its own key and the checkpoint kept
// beside it.
func (a *Audit) Verify() (AuditReport, error) { return a.VerifyAgainst(nil) }

// VerifyAgainst is Verify that also checks the log against checkpoints
// members hold: a tail cut after the last local checkpoint is caught when a
// member holds a later one.
func (a *Audit) VerifyAgainst(peers []Checkpoint) (AuditReport, error) {
	var key ed25519.PublicKey
	if a.signer != nil {
		key = a.signer.Public()
	}
	a.mu.Lock() // no append half-written while reading
	defer a.mu.Unlock()
	return VerifyAuditLog(a.path, VerifyOptions{Key: key, Peers: peers})
}

type heldCheckpoint struct {
	head, source string
}

// chainVerifier checks a log line by line.
type chainVerifier struct {
	path string
	key  ed25519.PublicKey // the checkpoints' key; set by the first seen when nil
	node string

	n          uint64
	prev       string
	afterFinal bool // the previous entry is a final checkpoint
	report     AuditReport
	held       map[uint64]heldCheckpoint // heads that checkpoints kept elsewhere name, by seq
	maxHeld    uint64
	maxSource  string
}

// hold registers a checkpoint kept outside the log.
func (v *chainVerifier) hold(cp Checkpoint, source string) error {
	if err := cp.Verify(); err != nil {
		return fmt.Errorf("audit log %s: %s: %w", v.path, source, err)
	}
	if err := v.sameSigner(&cp); err != nil {
		return fmt.Errorf("audit log %s: %s: %v: %w", v.path, source, err, ErrBadSignature)
	}
	if h, ok := v.held[cp.Seq]; ok && h.head != cp.Head {
		return &AuditError{Path: v.path, Line: int(cp.Seq), Seq: cp.Seq, Msg: fmt.Sprintf("%s and %s name different heads for this entry (the node signed two histories)", h.source, source)}
	}
	v.held[cp.Seq] = heldCheckpoint{head: cp.Head, source: source}
	if cp.Seq >= v.maxHeld {
		v.maxHeld, v.maxSource = cp.Seq, source
	}
	return nil
}

// sameSigner pins the key and node on first use and checks them after.
func (v *chainVerifier) sameSigner(cp *Checkpoint) error {
	if v.key == nil {
		v.key = bytes.Clone(cp.Key)
	}
	if v.node == "" {
		v.node = cp.Node
	}
	if !bytes.Equal(cp.Key, v.key) {
		return errors.New("signed by another key than the node's")
	}
	if cp.Node != v.node {
		return fmt.Errorf("names node %s, the log's checkpoints name %s", cp.Node, v.node)
	}
	return nil
}

func (v *chainVerifier) run(rd io.Reader) (AuditReport, error) {
	r := bufio.NewReaderSize(rd, 64<<10)
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(r)
		if errors.Is(err, io.EOF) {
			return v.end()
		}
		if err != nil {
			return AuditReport{}, v.bad(lineNo, "%v", err)
		}
		if err := v.line(lineNo, line); err != nil {
			return AuditReport{}, err
		}
	}
}

func (v *chainVerifier) bad(lineNo int, format string, a ...any) error {
	return &AuditError{Path: v.path, Line: lineNo, Seq: v.n + 1, Msg: fmt.Sprintf(format, a...)}
}

func (v *chainVerifier) line(lineNo int, line []byte) error {
	var e Entry
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || dec.More() {
		return v.bad(lineNo, "does not decode: %v", err)
	}
	if e.Seq != v.n+1 {
		return v.bad(lineNo, "sequence number %d, want %d (line deleted, inserted or moved)", e.Seq, v.n+1)
	}
	if e.Prev != v.prev {
		return v.bad(lineNo, "prev does not match the previous line's hash (line deleted, inserted, moved or edited)")
	}
	h, err := entryHash(e)
	if err != nil || h != e.Hash {
		return v.bad(lineNo, "hash does not match the entry (a field was edited)")
	}
	if canon, _ := json.Marshal(e); !bytes.Equal(canon, line) {
		return v.bad(lineNo, "not in canonical form (the line was edited)")
	}
	if v.afterFinal && e.Kind != KindCheckpoint {
		return v.bad(lineNo, "entry after the final checkpoint of a clean shutdown (written while the log was closed)")
	}
	if err := v.checkpoint(lineNo, &e); err != nil {
		return err
	}
	lh := lineHash(line)
	if held, ok := v.held[e.Seq]; ok && held.head != lh {
		return v.bad(lineNo, "differs from the head that %s signed for this entry (log rewritten)", held.source)
	}
	v.n, v.prev = e.Seq, lh
	return nil
}

// checkpoint checks a checkpoint entry: it names the chain before it and is
// signed by the node's key.
func (v *chainVerifier) checkpoint(lineNo int, e *Entry) error {
	if e.Kind != KindCheckpoint {
		if e.Checkpoint != "" {
			return v.bad(lineNo, "a %q entry carries a checkpoint", e.Kind)
		}
		return nil
	}
	cp, err := ParseCheckpoint([]byte(e.Checkpoint))
	if err != nil {
		return v.bad(lineNo, "checkpoint: %v", err)
	}
	if cp.Seq != v.n || cp.Head != v.prev {
		return v.bad(lineNo, "checkpoint names seq %d head %.12s…, the chain before it is seq %d head %.12s… (log rewritten)", cp.Seq, cp.Head, v.n, v.prev)
	}
	if err := cp.Verify(); err != nil {
		return v.bad(lineNo, "checkpoint signature does not verify (log rewritten or checkpoint forged)")
	}
	if err := v.sameSigner(cp); err != nil {
		return v.bad(lineNo, "checkpoint %v", err)
	}
	v.afterFinal = cp.Final
	v.report.Checkpoints++
	v.report.Latest = cp
	return nil
}

func (v *chainVerifier) end() (AuditReport, error) {
	if v.maxHeld > v.n {
		return AuditReport{}, &AuditError{Path: v.path, Line: int(v.n) + 1, Seq: v.n + 1,
			Msg: fmt.Sprintf("the log ends at seq %d, but %s covers seq %d (tail cut)", v.n, v.maxSource, v.maxHeld)}
	}
	r := v.report
	r.Entries, r.Head, r.Clean, r.Key = v.n, v.prev, v.afterFinal, v.key
	return r, nil
}
