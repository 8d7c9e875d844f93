package sovereignty

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// Audit entry kinds.
const (
	KindDeny         = "deny"         // a policy decision refused something
	KindReplicate    = "replicate"    // this node fetched a revision to hold it
	KindRepair       = "repair"       // this node took over a lost holder's replica
	KindRelease      = "release"      // this node released a surplus replica
	KindExport       = "export"       // a bundle was exported
	KindPolicy       = "policy"       // a policy came into force
	KindRevocation   = "revocation"   // a revocation list came into force
	KindCertRefused  = "cert-refused" // a peer's certificate was refused
	KindOverride     = "override"     // an operator overrode a policy refusal
	KindCheckpoint   = "checkpoint"   // a signed checkpoint of the log (written by Checkpoint and Close only)
	KindTorn         = "torn"         // a torn last line was cut at open
	KindUnclean      = "unclean"      // the previous writer stopped without a final checkpoint
	KindQuarantine   = "quarantine"   // a revision was committed quarantined (scan or licence)
	KindUnquarantine = "unquarantine" // a signed release lifted a quarantine
	KindScanWarning  = "scan-warning" // scan findings a rule let through
)

// Entry is one line of the audit log. Seq, Prev and Hash are set by Append;
// Time defaults to the current time.
type Entry struct {
	Seq        uint64    `json:"seq"`                  // 1 for the first line, then +1
	Time       time.Time `json:"time"`                 // UTC
	Kind       string    `json:"kind"`                 // one of the Kind constants (free text is accepted)
	Subject    string    `json:"subject"`              // what the entry is about: action, CID, policy version
	Peer       string    `json:"peer"`                 // peer ID involved, if any
	Repo       string    `json:"repo"`                 // ORG/NAME[@REV], if any
	Reason     string    `json:"reason"`               // human explanation, e.g. a Decision's reason
	Checkpoint string    `json:"checkpoint,omitempty"` // a KindCheckpoint entry's encoded Checkpoint
	Prev       string    `json:"prev"`                 // hex sha256 of the previous line (without its newline); zeros for the first
	Hash       string    `json:"hash"`                 // hex sha256 of this line's JSON with "hash" empty
}

// DenyEntry builds the audit entry of a refused decision.
func DenyEntry(a Action, repo string, m *Member, d Decision) Entry {
	e := Entry{Kind: KindDeny, Subject: a.String(), Repo: repo, Reason: d.String()}
	if m != nil {
		e.Peer = m.PeerID
	}
	return e
}

// RevocationEntry builds the audit entry of a revocation list that came
// into force, replacing version replaced (0 when none was held).
func RevocationEntry(r *Revocations, replaced uint64) Entry {
	reason := fmt.Sprintf("%d serials revoked, signed by %s", len(r.Serials), FormatOrgPublicKey(r.OrgKey))
	if replaced > 0 {
		reason += fmt.Sprintf(", replacing version %d", replaced)
	}
	return Entry{Kind: KindRevocation, Subject: fmt.Sprintf("revocations %s v%d", r.Org, r.Version), Reason: reason}
}

// RevocationInstalledEntry is RevocationEntry for a signed list as
// installed by (*Trust).AddRevocations (the version it replaced unknown).
func RevocationInstalledEntry(signed []byte) (Entry, error) {
	r, err := ParseRevocations(signed)
	if err != nil {
		return Entry{}, err
	}
	return RevocationEntry(r, 0), nil
}

// CertRefusedEntry builds the audit entry of a certificate refused at the
// handshake (untrusted, expired, revoked, bad signature, wrong peer). A
// stranger may retry without end: record through a DedupAuditor.
func CertRefusedEntry(peer string, err error) Entry {
	return Entry{Kind: KindCertRefused, Subject: "certificate", Peer: peer, Reason: err.Error()}
}

const (
	genesisPrev  = "0000000000000000000000000000000000000000000000000000000000000000"
	maxAuditLine = 64 << 10
	tornQuote    = 512 // bytes of a torn line quoted in its KindTorn entry
)

// entryHash is the hex sha256 of e's JSON encoding with Hash empty.
func entryHash(e Entry) (string, error) {
	e.Hash = ""
	b, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

func lineHash(line []byte) string {
	s := sha256.Sum256(line)
	return hex.EncodeToString(s[:])
}

// AuditOptions configure OpenAuditWith.
type AuditOptions struct {
	// Signer signs checkpoints: the node's identity key. Without it
	// Checkpoint fails with ErrNoSigner, Close writes no final checkpoint,
	// and appending to a log closed by a final checkpoint is refused
	// (ErrAuditSealed), since only a signed checkpoint may follow one.
	Signer Signer
	// Node is the peer ID checkpoints name; required with Signer.
	Node string
}

// Validate checks the options.
func (o AuditOptions) Validate() error {
	if o.Signer == nil {
		return nil
	}
	if !validPeerID(o.Node) {
		return fmt.Errorf("audit options: Node %q: want the node's peer ID with a Signer", trunc(o.Node))
	}
	if len(o.Signer.Public()) != ed25519.PublicKeySize {
		return fmt.Errorf("audit options: Signer: want an ed25519 key: %w", ErrBadKey)
	}
	return nil
}

// Audit appends entries to a hash-chained JSON-lines file and signs
// checkpoints of it. It is safe for concurrent use within one process; one
// process writes a given file.
type Audit struct {
	mu     sync.Mutex
	f      *os.File
	path   string
	signer Signer
	node   string
	seq    uint64
	prev   string // hash of the last line

	latest    *Checkpoint // the last checkpoint in the log; nil when none
	lastCP    bool        // the last entry is a non-final checkpoint: nothing to cover
	lastFinal bool        // the last entry is a final checkpoint: only a checkpoint may follow
}

// OpenAudit opens or creates the audit log at path without a signer; see
// OpenAuditWith.
func OpenAudit(path string) (*Audit, error) { return OpenAuditWith(path, AuditOptions{}) }

// OpenAuditWith opens or creates the audit log at path and continues its
// chain. A torn last line (no newline: a crash mid-write, or an edit) is cut
// off and recorded as a KindTorn entry quoting it. A last line that does not
// decode, entries after the final checkpoint of a clean shutdown (written
// while no writer had the log open), and a log behind the checkpoint kept
// beside it (its tail cut) are errors wrapping ErrAuditBroken: the log is
// not continued. With a Signer, a log whose last writer stopped without a
// final checkpoint gets a KindUnclean entry.
func OpenAuditWith(path string, o AuditOptions) (*Audit, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	a := &Audit{f: f, path: path, prev: genesisPrev, signer: o.Signer, node: o.Node}
	if err := a.open(); err != nil {
		f.Close()
		return nil, err
	}
	return a, nil
}

func (a *Audit) open() error {
	size, torn, err := a.recover()
	if err != nil {
		return err
	}
	unclean, err := a.inspectTail(size)
	if err != nil {
		return err
	}
	if a.signer != nil && a.latest != nil && !bytes.Equal(a.latest.Key, a.signer.Public()) {
		return fmt.Errorf("audit log %s: checkpointed with another key than this node's: %w", a.path, ErrAuditBroken)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if torn != nil {
		// Cut only now that the log is to be continued, and record it.
		if err := a.f.Truncate(torn.off); err != nil {
			return fmt.Errorf("audit log %s: cut torn line: %w", a.path, err)
		}
		if err := syncFile(a.f); err != nil {
			return fmt.Errorf("audit log %s: %w", a.path, err)
		}
		q := torn.line[:min(len(torn.line), tornQuote)]
		reason := fmt.Sprintf("cut a torn last line of %d bytes at offset %d (a write cut short, or an edit); it began %q", len(torn.line), torn.off, q)
		if err := a.appendLocked(Entry{Kind: KindTorn, Subject: "audit log", Reason: reason}); err != nil {
			return fmt.Errorf("record torn line: %w", err)
		}
	}
	if unclean != "" && a.signer != nil {
		if err := a.appendLocked(Entry{Kind: KindUnclean, Subject: "audit log", Reason: unclean}); err != nil {
			return err
		}
	}
	return nil
}

type tornLine struct {
	off  int64
	line []byte
}

// recover finds a torn last line (cut by open) and reads the head of the
// chain. size is the length of the log without the torn line.
func (a *Audit) recover() (size int64, torn *tornLine, err error) {
	st, err := a.f.Stat()
	if err != nil {
		return 0, nil, fmt.Errorf("audit log %s: %w", a.path, err)
	}
	size = st.Size()
	if size == 0 {
		return 0, nil, nil
	}
	n := min(size, int64(2*maxAuditLine))
	buf := make([]byte, n)
	if _, err := a.f.ReadAt(buf, size-n); err != nil {
		return 0, nil, fmt.Errorf("audit log %s: %w", a.path, err)
	}
	if buf[len(buf)-1] != '\n' {
		cut := bytes.LastIndexByte(buf, '\n') + 1 // 0 when no newline in the tail
		if cut == 0 && n < size {
			return 0, nil, fmt.Errorf("audit log %s: last line longer than %d bytes: %w", a.path, maxAuditLine, ErrAuditBroken)
		}
		torn = &tornLine{off: size - n + int64(cut), line: bytes.Clone(buf[cut:])}
		size = torn.off
		buf = buf[:cut]
		if len(buf) == 0 {
			return size, torn, nil
		}
	}
	line := buf[:len(buf)-1]
	line = line[bytes.LastIndexByte(line, '\n')+1:]
	var e Entry
	if err := json.Unmarshal(line, &e); err != nil || e.Seq == 0 {
		return 0, nil, fmt.Errorf("audit log %s: last line does not decode: %w", a.path, ErrAuditBroken)
	}
	a.seq, a.prev = e.Seq, lineHash(line)
	return size, torn, nil
}

// inspectTail finds the last checkpoint, scanning back from size (in a
// running log it is at most a minute of entries away), and checks what
// follows it and the checkpoint kept beside the log. It returns why the
// last writer's stop was unclean, "" when it was clean or never
// checkpointed.
func (a *Audit) inspectTail(size int64) (unclean string, err error) {
	var after uint64 // entries after the last checkpoint
	var cpEntry *Entry
	before := genesisPrev // hash of the line before the last checkpoint
	err = scanBack(a.f, size, func(line []byte) bool {
		if cpEntry != nil {
			before = lineHash(line)
			return false
		}
		if bytes.Contains(line, []byte(`"kind":"checkpoint"`)) {
			var e Entry
			if json.Unmarshal(line, &e) == nil && e.Kind == KindCheckpoint {
				cpEntry = &e
				return true // and read the line it covers
			}
		}
		after++
		return true
	})
	if err != nil {
		return "", fmt.Errorf("audit log %s: %w", a.path, err)
	}
	side, err := readSidecar(a.path)
	if err != nil {
		return "", err
	}
	if cpEntry == nil {
		if side != nil {
			return "", &AuditError{Path: a.path, Line: int(a.seq) + 1, Seq: a.seq + 1, Msg: fmt.Sprintf("no checkpoint in the log, but %s holds one of seq %d (log cut or rewritten)", sidecarPath(a.path), side.Seq)}
		}
		return "", nil
	}
	cp, err := ParseCheckpoint([]byte(cpEntry.Checkpoint))
	if err == nil {
		err = cp.Verify()
	}
	if err != nil {
		return "", &AuditError{Path: a.path, Line: int(cpEntry.Seq), Seq: cpEntry.Seq, Msg: err.Error()}
	}
	if cp.Seq+1 != cpEntry.Seq || cp.Head != cpEntry.Prev || cp.Head != before {
		return "", &AuditError{Path: a.path, Line: int(cpEntry.Seq), Seq: cpEntry.Seq, Msg: "the last checkpoint does not name the chain before it (log rewritten)"}
	}
	if cp.Final && after > 0 {
		return "", &AuditError{Path: a.path, Line: int(cpEntry.Seq) + 1, Seq: cpEntry.Seq + 1, Msg: fmt.Sprintf("%d entries after the final checkpoint of a clean shutdown (written while the log was closed)", after)}
	}
	if side != nil {
		if err := sidecarMatches(a.path, side, cp); err != nil {
			return "", err
		}
	}
	a.latest = cp
	a.lastCP = !cp.Final && after == 0
	a.lastFinal = cp.Final
	if !cp.Final {
		unclean = fmt.Sprintf("the last writer stopped without a final checkpoint (crash, kill, or a cut tail): last checkpoint at seq %d, %d entries after it", cp.Seq, after)
	}
	return unclean, nil
}

// sidecarMatches checks the checkpoint kept beside the log against the last
// one in it: the log's may be newer (a crash between the two writes), never
// older or different.
func sidecarMatches(path string, side, last *Checkpoint) error {
	bad := func(msg string) error {
		return &AuditError{Path: path, Line: int(last.Seq) + 2, Seq: last.Seq + 2, Msg: msg}
	}
	switch {
	case !bytes.Equal(side.Key, last.Key) || side.Node != last.Node:
		return bad(fmt.Sprintf("%s is signed by another key or node than the log's checkpoints", sidecarPath(path)))
	case side.Seq > last.Seq:
		return bad(fmt.Sprintf("the log's last checkpoint covers seq %d, %s covers seq %d (log cut or rewritten)", last.Seq, sidecarPath(path), side.Seq))
	case side.Seq == last.Seq && !bytes.Equal(side.Marshal(), last.Marshal()):
		return bad(fmt.Sprintf("%s differs from the log's checkpoint of seq %d (log rewritten)", sidecarPath(path), side.Seq))
	}
	return nil
}

// scanBack calls fn with each line of the newline-terminated file f of the
// given size, last line first, without its newline, until fn returns false.
func scanBack(f *os.File, size int64, fn func(line []byte) bool) error {
	if size == 0 {
		return nil
	}
	const chunk = 64 << 10
	pos := size - 1 // the final newline is not a separator
	var buf []byte  // bytes [pos, end of the last unemitted line)
	for {
		n := min(pos, chunk)
		if n > 0 {
			b := make([]byte, n, int(n)+len(buf))
			if _, err := f.ReadAt(b, pos-n); err != nil {
				return err
			}
			buf = append(b, buf...)
			pos -= n
		}
		for {
			i := bytes.LastIndexByte(buf, '\n')
			if i < 0 {
				break
			}
			if !fn(buf[i+1:]) {
				return nil
			}
			buf = buf[:i]
		}
		if pos == 0 {
			fn(buf)
			return nil
		}
		if len(buf) > maxAuditLine {
			return fmt.Errorf("line longer than %d bytes", maxAuditLine)
		}
	}
}

// ErrNoSigner: Checkpoint was called on a log opened without a Signer.
var ErrNoSigner = errors.New("audit log opened without a signer")

// ErrAuditSealed: the log ends with the final checkpoint of a clean
// shutdown, and this writer has no key to open it again.
var ErrAuditSealed = errors.New("audit log sealed by a final checkpoint; appending needs the node's key")

// Append adds e to the log, setting Seq, Prev and Hash, and syncs the file
// before returning. Checkpoint entries are written by Checkpoint and Close
// only. After a final checkpoint, a writer with a Signer first appends a
// checkpoint that opens the log again; one without gets ErrAuditSealed.
func (a *Audit) Append(e Entry) error {
	if a == nil {
		return errors.New("audit log: nil")
	}
	if e.Kind == KindCheckpoint || e.Checkpoint != "" {
		return fmt.Errorf("audit log %s: checkpoint entries are written by Checkpoint", a.path)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.appendLocked(e)
}

func (a *Audit) appendLocked(e Entry) error {
	if a.f == nil {
		return fmt.Errorf("audit log %s: closed", a.path)
	}
	if a.lastFinal {
		if a.signer == nil {
			return fmt.Errorf("audit log %s: %w", a.path, ErrAuditSealed)
		}
		if _, err := a.checkpointLocked(false); err != nil {
			return err
		}
	}
	if err := a.write(e); err != nil {
		return err
	}
	a.lastCP, a.lastFinal = false, false
	return nil
}

// write chains e onto the log and syncs it.
func (a *Audit) write(e Entry) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	// JSON writes invalid UTF-8 as an escaped U+FFFD but a decoded U+FFFD
	// raw; replacing it first keeps the line canonical for VerifyAudit.
	for _, f := range []*string{&e.Kind, &e.Subject, &e.Peer, &e.Repo, &e.Reason} {
		*f = strings.ToValidUTF8(*f, "\uFFFD")
	}
	e.Seq, e.Prev = a.seq+1, a.prev
	h, err := entryHash(e)
	if err != nil {
		return fmt.Errorf("audit log %s: %w", a.path, err)
	}
	e.Hash = h
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit log %s: %w", a.path, err)
	}
	if len(line) > maxAuditLine {
		return fmt.Errorf("audit log %s: entry of %d bytes, limit %d", a.path, len(line), maxAuditLine)
	}
	if _, err := a.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("audit log %s: %w", a.path, err)
	}
	if err := syncFile(a.f); err != nil {
		return fmt.Errorf("audit log %s: %w", a.path, err)
	}
	a.seq, a.prev = e.Seq, lineHash(line)
	return nil
}

// Checkpoint signs the log's head (sequence number and hash of the last
// entry), appends the checkpoint as an entry and keeps it beside the log.
// When the last entry already is a checkpoint, that one still covers the
// log and is returned without appending, so an idle log does not grow.
func (a *Audit) Checkpoint() (Checkpoint, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.signer == nil {
		return Checkpoint{}, fmt.Errorf("audit log %s: checkpoint: %w", a.path, ErrNoSigner)
	}
	if a.f == nil {
		return Checkpoint{}, fmt.Errorf("audit log %s: closed", a.path)
	}
	if (a.lastCP || a.lastFinal) && a.latest != nil {
		return *a.latest, nil
	}
	return a.checkpointLocked(false)
}

func (a *Audit) checkpointLocked(final bool) (Checkpoint, error) {
	cp, err := signCheckpoint(a.signer, Checkpoint{Node: a.node, Seq: a.seq, Head: a.prev, Time: time.Now(), Final: final})
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit log %s: %w", a.path, err)
	}
	subject := fmt.Sprintf("checkpoint seq %d", cp.Seq)
	if final {
		subject = "final " + subject
	}
	if err := a.write(Entry{Kind: KindCheckpoint, Subject: subject, Peer: a.node, Checkpoint: string(cp.Marshal())}); err != nil {
		return Checkpoint{}, err
	}
	a.latest = &cp
	a.lastCP, a.lastFinal = !final, final
	if err := writeSidecar(a.path, &cp); err != nil {
		return cp, err
	}
	return cp, nil
}

// Latest returns the last checkpoint of the log, for members to keep.
func (a *Audit) Latest() (Checkpoint, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.latest == nil {
		return Checkpoint{}, false
	}
	return *a.latest, true
}

// RunCheckpoints checkpoints the log every interval (0 means one minute)
// until ctx ends; Checkpoint skips an idle log. Failures are logged and
// retried at the next tick. The shutdown's final checkpoint is Close's.
func (a *Audit) RunCheckpoints(ctx context.Context, interval time.Duration) error {
	if a.signer == nil {
		return fmt.Errorf("audit log %s: checkpoints: %w", a.path, ErrNoSigner)
	}
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := a.Checkpoint(); err != nil {
				slog.Warn("audit checkpoint", "path", a.path, "err", err)
			}
		}
	}
}

// Head returns the sequence number and line hash of the last entry.
func (a *Audit) Head() (seq uint64, hash string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seq, a.prev
}

// Close seals the log with a final checkpoint when it has a Signer (so an
// entry written while it is closed is caught), then closes the file.
func (a *Audit) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	var err error
	if a.signer != nil && !a.lastFinal {
		_, err = a.checkpointLocked(true)
	}
	err = errors.Join(err, a.f.Close())
	a.f = nil
	return err
}

// AuditError names the first broken line of an audit log.
type AuditError struct {
	Path string
	Line int    // 1-based line number
	Seq  uint64 // the sequence number expected at that line
	Msg  string
}

func (e *AuditError) Error() string {
	return fmt.Sprintf("audit log %s: line %d (seq %d): %s", e.Path, e.Line, e.Seq, e.Msg)
}

func (e *AuditError) Unwrap() error { return ErrAuditBroken }

var errTornLine = errors.New("last line has no newline (torn write or truncation)")

// readLine returns the next line without its newline; a final line without
// a newline or over the size limit is an error.
func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxAuditLine+1 {
			return nil, fmt.Errorf("line longer than %d bytes", maxAuditLine)
		}
		switch {
		case err == nil:
			return buf[:len(buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(buf) == 0:
			return nil, io.EOF
		case errors.Is(err, io.EOF):
			return nil, errTornLine
		default:
			return nil, err
		}
	}
}

// Tail returns the last n entries of the log at path, oldest first. It does
// not verify the chain (VerifyAudit does).
func Tail(path string, n int) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audit tail: %w", err)
	}
	defer f.Close()
	if n <= 0 {
		return nil, nil
	}
	// ring holds the last n lines; total counts all lines read.
	ring := make([][]byte, 0, min(n, 1024))
	total := 0
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := readLine(r)
		if errors.Is(err, io.EOF) || errors.Is(err, errTornLine) {
			break // a torn line: the writer is mid-append or crashed; show what is complete
		}
		if err != nil {
			return nil, fmt.Errorf("audit tail %s: line %d: %w", path, total+1, err)
		}
		if len(ring) < n {
			ring = append(ring, line)
		} else {
			ring[total%n] = line
		}
		total++
	}
	out := make([]Entry, 0, len(ring))
	start := 0
	if total > n {
		start = total % n
	}
	for i := range ring {
		line := ring[(start+i)%len(ring)]
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("audit tail %s: line %d: %w", path, total-len(ring)+i+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}
