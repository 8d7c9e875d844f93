package sovereignty

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Audit entry kinds.
const (
	KindDeny       = "deny"       // a policy decision refused something
	KindReplicate  = "replicate"  // this node fetched a revision to hold it
	KindRepair     = "repair"     // this node took over a lost holder's replica
	KindRelease    = "release"    // this node released a surplus replica
	KindExport     = "export"     // a bundle was exported
	KindPolicy     = "policy"     // a policy came into force
	KindRevocation = "revocation" // a revocation list came into force
)

// Entry is one line of the audit log. Seq, Prev and Hash are set by Append;
// Time defaults to the current time.
type Entry struct {
	Seq     uint64    `json:"seq"`     // 1 for the first line, then +1
	Time    time.Time `json:"time"`    // UTC
	Kind    string    `json:"kind"`    // one of the Kind constants (free text is accepted)
	Subject string    `json:"subject"` // what the entry is about: action, CID, policy version
	Peer    string    `json:"peer"`    // peer ID involved, if any
	Repo    string    `json:"repo"`    // ORG/NAME[@REV], if any
	Reason  string    `json:"reason"`  // human explanation, e.g. a Decision's reason
	Prev    string    `json:"prev"`    // hex sha256 of the previous line (without its newline); zeros for the first
	Hash    string    `json:"hash"`    // hex sha256 of this line's JSON with "hash" empty
}

// DenyEntry builds the audit entry of a refused decision.
func DenyEntry(a Action, repo string, m *Member, d Decision) Entry {
	e := Entry{Kind: KindDeny, Subject: a.String(), Repo: repo, Reason: d.String()}
	if m != nil {
		e.Peer = m.PeerID
	}
	return e
}

const (
	genesisPrev  = "0000000000000000000000000000000000000000000000000000000000000000"
	maxAuditLine = 64 << 10
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

// Audit appends entries to a hash-chained JSON-lines file. It is safe for
// concurrent use within one process; one process writes a given file.
type Audit struct {
	mu   sync.Mutex
	f    *os.File
	path string
	seq  uint64
	prev string // hash of the last line
}

// OpenAudit opens or creates the audit log at path and continues its chain.
// A torn last line (no newline: a crash mid-write) is cut off, since it was
// never acknowledged; a last line that does not decode is an error wrapping
// ErrAuditBroken.
func OpenAudit(path string) (*Audit, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	a := &Audit{f: f, path: path, prev: genesisPrev}
	if err := a.recover(); err != nil {
		f.Close()
		return nil, err
	}
	return a, nil
}

func (a *Audit) recover() error {
	st, err := a.f.Stat()
	if err != nil {
		return fmt.Errorf("audit log %s: %w", a.path, err)
	}
	size := st.Size()
	if size == 0 {
		return nil
	}
	n := min(size, int64(2*maxAuditLine))
	buf := make([]byte, n)
	if _, err := a.f.ReadAt(buf, size-n); err != nil {
		return fmt.Errorf("audit log %s: %w", a.path, err)
	}
	if buf[len(buf)-1] != '\n' {
		cut := bytes.LastIndexByte(buf, '\n') + 1 // 0 when no newline in the tail
		if cut == 0 && n < size {
			return fmt.Errorf("audit log %s: last line longer than %d bytes: %w", a.path, maxAuditLine, ErrAuditBroken)
		}
		if err := a.f.Truncate(size - n + int64(cut)); err != nil {
			return fmt.Errorf("audit log %s: cut torn line: %w", a.path, err)
		}
		if err := a.f.Sync(); err != nil {
			return fmt.Errorf("audit log %s: %w", a.path, err)
		}
		buf = buf[:cut]
		if len(buf) == 0 {
			return nil
		}
	}
	line := buf[:len(buf)-1]
	line = line[bytes.LastIndexByte(line, '\n')+1:]
	var e Entry
	if err := json.Unmarshal(line, &e); err != nil || e.Seq == 0 {
		return fmt.Errorf("audit log %s: last line does not decode: %w", a.path, ErrAuditBroken)
	}
	a.seq, a.prev = e.Seq, lineHash(line)
	return nil
}

// Append adds e to the log, setting Seq, Prev and Hash, and syncs the file
// before returning.
func (a *Audit) Append(e Entry) error {
	if a == nil {
		return errors.New("audit log: nil")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return fmt.Errorf("audit log %s: closed", a.path)
	}
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
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("audit log %s: %w", a.path, err)
	}
	a.seq, a.prev = e.Seq, lineHash(line)
	return nil
}

// Head returns the sequence number and line hash of the last entry. Recording
// it elsewhere (another node, a ticket) makes truncation of the tail
// detectable, which the chain alone cannot show.
func (a *Audit) Head() (seq uint64, hash string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seq, a.prev
}

// Close closes the file.
func (a *Audit) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
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

// VerifyAudit checks the whole chain of the log at path: every line decodes
// strictly, is canonical, has the next sequence number, the hash of the
// previous line and a correct hash. The error for a broken chain is an
// *AuditError (wrapping ErrAuditBroken) naming the first bad line.
func VerifyAudit(path string) error {
	_, _, err := CheckAudit(path)
	return err
}

// CheckAudit is VerifyAudit that also returns the number of entries and the
// head hash (see Head) when the chain is intact.
func CheckAudit(path string) (n uint64, head string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", fmt.Errorf("verify audit log: %w", err)
	}
	defer f.Close()
	return checkChain(f, path)
}

// checkChain is CheckAudit over any reader; name labels errors.
func checkChain(rd io.Reader, path string) (n uint64, head string, err error) {
	r := bufio.NewReaderSize(rd, 64<<10)
	prev := genesisPrev
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(r)
		if errors.Is(err, io.EOF) {
			return n, prev, nil
		}
		bad := func(format string, a ...any) error {
			return &AuditError{Path: path, Line: lineNo, Seq: n + 1, Msg: fmt.Sprintf(format, a...)}
		}
		if err != nil {
			return 0, "", bad("%v", err)
		}
		var e Entry
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil || dec.More() {
			return 0, "", bad("does not decode: %v", err)
		}
		if e.Seq != n+1 {
			return 0, "", bad("sequence number %d, want %d (line deleted, inserted or moved)", e.Seq, n+1)
		}
		if e.Prev != prev {
			return 0, "", bad("prev does not match the previous line's hash (line deleted, inserted, moved or edited)")
		}
		h, err := entryHash(e)
		if err != nil || h != e.Hash {
			return 0, "", bad("hash does not match the entry (a field was edited)")
		}
		if canon, _ := json.Marshal(e); !bytes.Equal(canon, line) {
			return 0, "", bad("not in canonical form (the line was edited)")
		}
		n, prev = e.Seq, lineHash(line)
	}
}

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
