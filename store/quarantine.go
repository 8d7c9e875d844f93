package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cairnhub/cairn/manifest"
	badger "github.com/dgraph-io/badger/v4"
)

// Key prefixes of the compliance records (see doc.go).
const (
	pfxCheck      = 'c'
	pfxQuarantine = 'q'
)

// ErrNotQuarantined: Release names a revision with no quarantine record.
var ErrNotQuarantined = errors.New("revision not quarantined")

// FileScan is one file's scan result as stored with a revision.
type FileScan struct {
	Path     string   `json:"path"`
	Verdict  string   `json:"verdict"`            // "safe", "unknown" or "unsafe"
	Findings []string `json:"findings,omitempty"` // one line each, the first few
}

// Check is the compliance check of one revision, stored whether or not it
// was quarantined: each file's scan result, the licences detected, the
// rule that decided and the findings it let through.
type Check struct {
	Kind     manifest.Kind `json:"-"`
	Repo     string        `json:"-"`
	Commit   string        `json:"-"`
	Time     time.Time     `json:"time"`
	Via      string        `json:"via"`  // "add", "bundle import", "mirror", "pull"
	Rule     string        `json:"rule"` // the policy rule that decided, or "default"
	Files    []FileScan    `json:"files"`
	Licences []string      `json:"licences,omitempty"` // canonical ids
	Warnings []string      `json:"warnings,omitempty"`
}

// Quarantine is the record of a revision committed quarantined: stored, not
// to be served, replicated or loaded until released.
type Quarantine struct {
	Kind    manifest.Kind `json:"-"`
	Repo    string        `json:"-"`
	Commit  string        `json:"-"`
	Reasons []string      `json:"reasons"`
	Scan    string        `json:"scan"` // summary of the scan, e.g. "1 unsafe, 0 unknown, 4 safe"
	Time    time.Time     `json:"time"`
	// Release is the signed release document that lifted the quarantine
	// (verified by the caller of Release), nil while it holds; Released
	// is when this node took it.
	Release  []byte    `json:"release,omitempty"`
	Released time.Time `json:"released,omitzero"`
}

// InForce reports whether the quarantine still holds.
func (q *Quarantine) InForce() bool { return q != nil && len(q.Release) == 0 }

func recordKey(pfx byte, kind manifest.Kind, repo, commit string) []byte {
	return append(kindRepo(pfx, kind, repo), commit...)
}

func checkRecordArgs(kind manifest.Kind, repo, commit string) error {
	if err := checkRepoArgs(kind, repo); err != nil {
		return err
	}
	if err := manifest.ValidateCommit(commit); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return nil
}

// SetCheck stores the check of a revision, replacing an earlier one.
// Importers store it before Commit.
func (s *Store) SetCheck(ctx context.Context, c Check) error {
	return s.putRecord(ctx, "check", pfxCheck, c.Kind, c.Repo, c.Commit, c)
}

// Check returns the stored check of a revision; ok is false when it has none.
func (s *Store) Check(ctx context.Context, kind manifest.Kind, repo, commit string) (c Check, ok bool, err error) {
	ok, err = s.getRecord(ctx, "check", pfxCheck, kind, repo, commit, &c)
	c.Kind, c.Repo, c.Commit = kind, repo, commit
	return c, ok, err
}

// Quarantine records a revision as quarantined. Importers call it before
// Commit, so the revision is never visible unquarantined. A release already
// stored for the same revision is kept: it was signed for that commit.
func (s *Store) Quarantine(ctx context.Context, q Quarantine) error {
	return s.modifyRecord(ctx, "quarantine", pfxQuarantine, q.Kind, q.Repo, q.Commit, func(old []byte) (any, error) {
		var prev Quarantine
		if old != nil && json.Unmarshal(old, &prev) == nil && !prev.InForce() {
			q.Release, q.Released = prev.Release, prev.Released
		}
		return q, nil
	})
}

// QuarantineOf returns the quarantine record of a revision, released or not;
// ok is false when it has none.
func (s *Store) QuarantineOf(ctx context.Context, kind manifest.Kind, repo, commit string) (q Quarantine, ok bool, err error) {
	ok, err = s.getRecord(ctx, "quarantine", pfxQuarantine, kind, repo, commit, &q)
	q.Kind, q.Repo, q.Commit = kind, repo, commit
	return q, ok, err
}

// Quarantined reports whether a revision is quarantined and not released:
// the question every exit (serving, replication, inference) asks.
func (s *Store) Quarantined(ctx context.Context, kind manifest.Kind, repo, commit string) (bool, error) {
	q, ok, err := s.QuarantineOf(ctx, kind, repo, commit)
	return ok && q.InForce(), err
}

// Release stores a signed release with a quarantined revision's record;
// the caller has verified it. ErrNotQuarantined when there is no record.
func (s *Store) Release(ctx context.Context, kind manifest.Kind, repo, commit string, signed []byte) error {
	if len(signed) == 0 {
		return fmt.Errorf("release %s %s@%s: empty release document: %w", kind, repo, commit, ErrInvalidArgument)
	}
	return s.modifyRecord(ctx, "release", pfxQuarantine, kind, repo, commit, func(old []byte) (any, error) {
		if old == nil {
			return nil, fmt.Errorf("release %s %s@%s: %w", kind, repo, commit, ErrNotQuarantined)
		}
		var q Quarantine
		if err := json.Unmarshal(old, &q); err != nil {
			return nil, fmt.Errorf("release %s %s@%s: stored record: %w", kind, repo, commit, err)
		}
		q.Release, q.Released = signed, time.Now().UTC()
		return q, nil
	})
}

// Quarantines lists the quarantine records of a repo (kind and repo set),
// of a kind (repo ""), or of everything (both ""), released ones included.
func (s *Store) Quarantines(ctx context.Context, kind manifest.Kind, repo string) ([]Quarantine, error) {
	done, err := s.readOp()
	if err != nil {
		return nil, err
	}
	defer done()
	pfx := []byte{pfxQuarantine}
	switch {
	case kind != "" && repo != "":
		pfx = kindRepo(pfxQuarantine, kind, repo)
	case kind != "":
		pfx = append(append(pfx, kind...), 0)
	}
	var out []Quarantine
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx})
		defer it.Close()
		for it.Rewind(); it.Valid() && ctx.Err() == nil; it.Next() {
			k, r, c, err := splitKRN(it.Item().KeyCopy(nil)[1:])
			if err != nil {
				return err
			}
			q := Quarantine{}
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &q) }); err != nil {
				return fmt.Errorf("quarantine %s %s@%s: %w", k, r, c, err)
			}
			q.Kind, q.Repo, q.Commit = k, r, c
			out = append(out, q)
		}
		return ctx.Err()
	})
	return out, err
}

func (s *Store) putRecord(ctx context.Context, what string, pfx byte, kind manifest.Kind, repo, commit string, v any) error {
	return s.modifyRecord(ctx, what, pfx, kind, repo, commit, func([]byte) (any, error) { return v, nil })
}

// modifyRecord replaces a record with what fn makes of the stored one (nil
// when none), in one transaction.
func (s *Store) modifyRecord(ctx context.Context, what string, pfx byte, kind manifest.Kind, repo, commit string, fn func(old []byte) (any, error)) error {
	done, err := s.writeOp(ctx, func() error { return checkRecordArgs(kind, repo, commit) })
	if err != nil {
		return fmt.Errorf("%s %s@%s: %w", what, repo, commit, err)
	}
	defer done()
	key := recordKey(pfx, kind, repo, commit)
	return s.update(ctx, func(txn *badger.Txn) error {
		old, err := getValue(txn, key)
		if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		v, err := fn(old)
		if err != nil {
			return err
		}
		enc, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%s %s@%s: %w", what, repo, commit, err)
		}
		return txn.Set(key, enc)
	})
}

func (s *Store) getRecord(ctx context.Context, what string, pfx byte, kind manifest.Kind, repo, commit string, v any) (bool, error) {
	done, err := s.readOp()
	if err != nil {
		return false, err
	}
	defer done()
	if err := checkRecordArgs(kind, repo, commit); err != nil {
		return false, fmt.Errorf("%s %s@%s: %w", what, repo, commit, err)
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var raw []byte
	err = s.db.View(func(txn *badger.Txn) error {
		raw, err = getValue(txn, recordKey(pfx, kind, repo, commit))
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s %s@%s: %w", what, repo, commit, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("%s %s@%s: stored record: %w", what, repo, commit, err)
	}
	return true, nil
}
