package gate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
)

// ErrQuarantined wraps every refusal to serve, replicate, export or load a
// revision the compliance gate quarantined.
var ErrQuarantined = errors.New("quarantined")

// Quarantines are the store's quarantine records: *store.Store.
type Quarantines interface {
	QuarantineOf(ctx context.Context, kind manifest.Kind, repo, commit string) (store.Quarantine, bool, error)
}

// QuarantineError is the refusal of a quarantined revision, with why.
type QuarantineError struct {
	Kind    manifest.Kind
	Repo    string
	Commit  string
	Reasons []string
}

func (e *QuarantineError) Error() string {
	return fmt.Sprintf("%s %s@%s is quarantined by the compliance gate (%s); an operator with the organisation key lifts it with `cairn release`",
		e.Kind, e.Repo, e.Commit, strings.Join(e.Reasons, "; "))
}

func (e *QuarantineError) Unwrap() error { return ErrQuarantined }

// CheckQuarantine returns a *QuarantineError when m's revision is
// quarantined and not released.
func CheckQuarantine(ctx context.Context, st Quarantines, m *manifest.Manifest) error {
	q, ok, err := st.QuarantineOf(ctx, m.Type, m.Repo, m.Commit)
	if err != nil {
		return err
	}
	if ok && q.InForce() {
		return &QuarantineError{Kind: m.Type, Repo: m.Repo, Commit: m.Commit, Reasons: q.Reasons}
	}
	return nil
}

// QuarantineReason says why m's revision is quarantined, if it is: the
// HF API's view of the store's quarantines (hfapi.Options.Quarantine).
func QuarantineReason(st Quarantines) func(ctx context.Context, m *manifest.Manifest) (string, bool) {
	return func(ctx context.Context, m *manifest.Manifest) (string, bool) {
		err := CheckQuarantine(ctx, st, m)
		if err == nil {
			return "", false
		}
		return err.Error(), true
	}
}
