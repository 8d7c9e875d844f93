package replicate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cairnhub/cairn/internal/atomicfile"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
)

// PinsFile is the usual name of the state file (Deps.StateFile) in a
// node's home: the intents the node knows and the keys it fetched as
// replicas (the only ones it may release).
const PinsFile = "pins.json"

type stateFile struct {
	Intents  []Intent `json:"intents"`
	Replicas []string `json:"replicas"`
}

func readState(path string) (stateFile, error) {
	var f stateFile
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("replication: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("replication: %s: %w", path, err)
	}
	return f, nil
}

func writeState(path string, intents []Intent, replicas map[string]bool) error {
	f := stateFile{Intents: intents, Replicas: []string{}}
	if f.Intents == nil {
		f.Intents = []Intent{}
	}
	for k := range replicas {
		f.Replicas = append(f.Replicas, k)
	}
	sort.Strings(f.Replicas)
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("replication: save %s: %w", path, err)
	}
	return nil
}

func (r *Service) load() error {
	f, err := readState(r.deps.StateFile)
	if err != nil {
		return err
	}
	for _, i := range f.Intents {
		if i.Validate() == nil {
			r.intents[i.Key()] = i
		}
	}
	for _, k := range f.Replicas {
		r.replicas[k] = true
	}
	return nil
}

// saveLocked writes the state file; r.mu is held.
func (r *Service) saveLocked() error {
	return writeState(r.deps.StateFile, r.intentsLocked(), r.replicas)
}

func (r *Service) intentsLocked() []Intent {
	out := make([]Intent, 0, len(r.intents))
	for _, i := range r.intents {
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b Intent) int { return strings.Compare(a.Key(), b.Key()) })
	return out
}

// RecordIntent stores an intent in a state file without a running
// replicator (it floods the intent when it runs). It keeps the newer of
// the two.
func RecordIntent(path string, i Intent) error {
	if err := i.Validate(); err != nil {
		return err
	}
	f, err := readState(path)
	if err != nil {
		return err
	}
	replicas := map[string]bool{}
	for _, k := range f.Replicas {
		replicas[k] = true
	}
	out := f.Intents[:0]
	found := false
	for _, x := range f.Intents {
		if x.Key() == i.Key() {
			found = true
			if i.Newer(x) {
				x = i
			}
		}
		out = append(out, x)
	}
	if !found {
		out = append(out, i)
	}
	return writeState(path, out, replicas)
}

// LoadIntents reads the intents recorded in a state file.
func LoadIntents(path string) ([]Intent, error) {
	f, err := readState(path)
	return f.Intents, err
}

// NewIntent builds the intent of pinning kind repo@rev with a factor
// (0: policy or default), resolving rev to a commit when st holds it, so
// that every node replicates exactly that commit. by is the recording
// node's peer ID.
func NewIntent(ctx context.Context, st Resolver, by string, kind manifest.Kind, repo, rev string, replicas int) (Intent, error) {
	i := Intent{Kind: kind, Repo: repo, Revision: rev, Replicas: replicas, Version: uint64(time.Now().UnixNano()), By: by}
	if m, err := st.Resolve(ctx, kind, repo, rev); err == nil {
		i.Commit = m.Commit
	} else if !errors.Is(err, store.ErrRepoNotFound) && !errors.Is(err, store.ErrRevisionNotFound) {
		return i, err
	}
	if manifest.ValidateCommit(rev) == nil {
		i.Commit = rev
	}
	return i, i.Validate()
}
