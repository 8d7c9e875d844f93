package replicate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cairnhub/cairn/manifest"
)

// Limits of the documents nodes exchange; a decoder refuses larger input
// before parsing it.
const (
	MaxMessage = 8 << 20
	MaxIntents = 100_000
	MaxHeld    = 200_000
	// MaxReplicas bounds a requested replication factor.
	MaxReplicas = 1000
)

// ErrInvalid: a message or one of its entries does not validate.
var ErrInvalid = errors.New("invalid replication message")

// Intent is a cluster-wide wish to keep a revision on Replicas nodes.
type Intent struct {
	Kind     manifest.Kind `json:"kind"`
	Repo     string        `json:"repo"`
	Revision string        `json:"rev"`
	// Commit, when set, is the commit the revision named where the intent
	// was recorded; only holders of that commit count.
	Commit string `json:"commit,omitempty"`
	// Replicas is the factor asked for; 0 means the policy's min, else the
	// replicator's default.
	Replicas int `json:"replicas,omitempty"`
	// Version orders intents of one key: the greater wins.
	Version uint64 `json:"version"`
	// Removed marks an unpinned key (a tombstone, kept so the removal
	// floods like a change).
	Removed bool `json:"removed,omitempty"`
	// By is the peer ID of the node that recorded the intent.
	By string `json:"by,omitempty"`
}

// Key names what the intent is about: "kind/org/name@revision".
func (i Intent) Key() string { return Key(i.Kind, i.Repo, i.Revision) }

// Key builds the key of a revision.
func Key(kind manifest.Kind, repo, rev string) string {
	return string(kind) + "/" + repo + "@" + rev
}

// Newer reports whether a replaces b (same key): greater version, then
// the greater By, then a removal, so every node picks the same winner.
func (i Intent) Newer(b Intent) bool {
	if i.Version != b.Version {
		return i.Version > b.Version
	}
	if i.By != b.By {
		return i.By > b.By
	}
	return i.Removed && !b.Removed
}

// Validate checks every field.
func (i Intent) Validate() error {
	if i.Kind != manifest.Model && i.Kind != manifest.Dataset {
		return fmt.Errorf("intent kind %q: want model or dataset: %w", i.Kind, ErrInvalid)
	}
	if err := manifest.ValidateRepo(i.Repo); err != nil {
		return fmt.Errorf("intent repo: %w: %w", err, ErrInvalid)
	}
	if err := ValidateRevision(i.Revision); err != nil {
		return err
	}
	if i.Commit != "" {
		if err := manifest.ValidateCommit(i.Commit); err != nil {
			return fmt.Errorf("intent commit: %w: %w", err, ErrInvalid)
		}
	}
	if i.Replicas < 0 || i.Replicas > MaxReplicas {
		return fmt.Errorf("intent replicas %d: want 0-%d: %w", i.Replicas, MaxReplicas, ErrInvalid)
	}
	if i.Version == 0 {
		return fmt.Errorf("intent %s: version 0: %w", i.Key(), ErrInvalid)
	}
	if len(i.By) > 128 {
		return fmt.Errorf("intent by: too long: %w", ErrInvalid)
	}
	return nil
}

// ValidateRevision checks a revision name the way git ref names are
// checked: 1-255 bytes, no "..", no leading or trailing "/", no control
// characters, none of ` ~^:?*[\@{`.
func ValidateRevision(r string) error {
	bad := r == "" || len(r) > 255 || strings.Contains(r, "..") || strings.HasPrefix(r, "/") ||
		strings.HasSuffix(r, "/") || strings.Contains(r, "//") || strings.HasPrefix(r, "-")
	if !bad {
		for _, c := range r {
			if c < 0x20 || c == 0x7f || strings.ContainsRune(" ~^:?*[\\@{", c) {
				bad = true
				break
			}
		}
	}
	if bad {
		return fmt.Errorf("revision %q: not a valid ref name: %w", truncate(r), ErrInvalid)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Held is one revision a node holds.
type Held struct {
	Kind     manifest.Kind `json:"kind"`
	Repo     string        `json:"repo"`
	Revision string        `json:"rev"`
	Commit   string        `json:"commit"`
	// Replica is true when the replicator fetched it (it may release it);
	// false for what the operator added or pulled.
	Replica bool `json:"replica,omitempty"`
}

// Key is the key of the held revision.
func (h Held) Key() string { return Key(h.Kind, h.Repo, h.Revision) }

// Holdings is one node's advertisement.
type Holdings struct {
	// Seq grows with every advertisement of a node run; a receiver keeps
	// the greatest. A restart starts from the current time in nanoseconds.
	Seq uint64 `json:"seq"`
	// Capacity is the free space in bytes the node offers (0: unknown).
	Capacity int64 `json:"capacity"`
	// Mirror is false when the node does not take replicas (no mirror role
	// or replication turned off); it still reports what it holds.
	Mirror bool   `json:"mirror"`
	Held   []Held `json:"held"`
}

// Validate checks every field.
func (h *Holdings) Validate() error {
	if h.Capacity < 0 {
		return fmt.Errorf("holdings capacity %d: %w", h.Capacity, ErrInvalid)
	}
	if len(h.Held) > MaxHeld {
		return fmt.Errorf("holdings: %d entries, more than %d: %w", len(h.Held), MaxHeld, ErrInvalid)
	}
	for k, x := range h.Held {
		if x.Kind != manifest.Model && x.Kind != manifest.Dataset {
			return fmt.Errorf("holdings entry %d kind %q: %w", k, x.Kind, ErrInvalid)
		}
		if err := manifest.ValidateRepo(x.Repo); err != nil {
			return fmt.Errorf("holdings entry %d: %w: %w", k, err, ErrInvalid)
		}
		if err := ValidateRevision(x.Revision); err != nil {
			return fmt.Errorf("holdings entry %d: %w", k, err)
		}
		if err := manifest.ValidateCommit(x.Commit); err != nil {
			return fmt.Errorf("holdings entry %d: %w: %w", k, err, ErrInvalid)
		}
	}
	return nil
}

// Message is what the pins and holdings protocols carry: a version and
// either intents or holdings.
type Message struct {
	V        int       `json:"v"`
	Intents  []Intent  `json:"intents,omitempty"`
	Holdings *Holdings `json:"holdings,omitempty"`
}

// Encode returns the wire form of m (JSON), refusing what Decode would.
func Encode(m Message) ([]byte, error) {
	m.V = 1
	if err := m.validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("message of %d bytes, more than %d: %w", len(b), MaxMessage, ErrInvalid)
	}
	return b, nil
}

// Decode reads one message from untrusted bytes: size limit, strict JSON
// (unknown fields and trailing data refused), every entry validated.
func Decode(b []byte) (Message, error) {
	var m Message
	if len(b) > MaxMessage {
		return m, fmt.Errorf("message of %d bytes, more than %d: %w", len(b), MaxMessage, ErrInvalid)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Message{}, fmt.Errorf("decode: %v: %w", err, ErrInvalid)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Message{}, fmt.Errorf("decode: trailing data: %w", ErrInvalid)
	}
	if err := m.validate(); err != nil {
		return Message{}, err
	}
	return m, nil
}

func (m Message) validate() error {
	if m.V != 1 {
		return fmt.Errorf("message version %d: want 1: %w", m.V, ErrInvalid)
	}
	if len(m.Intents) > MaxIntents {
		return fmt.Errorf("%d intents, more than %d: %w", len(m.Intents), MaxIntents, ErrInvalid)
	}
	for _, i := range m.Intents {
		if err := i.Validate(); err != nil {
			return err
		}
	}
	if m.Holdings != nil {
		return m.Holdings.Validate()
	}
	return nil
}
