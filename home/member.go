package home

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cairnhub/cairn/internal/atomicfile"
	"github.com/cairnhub/cairn/sovereignty"
)

// Certificate returns this node's certificate bytes, or nil when it has
// not joined an organisation.
func (h *Home) Certificate() ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(h.Dir, CertFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	return b, nil
}

// Trust loads the trusted organisation keys and the revocation lists.
func (h *Home) Trust() (*sovereignty.Trust, error) {
	t, err := sovereignty.NewTrust()
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(filepath.Join(h.Dir, TrustDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("trust: %w", err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), orgPubExtension) {
			continue
		}
		p := filepath.Join(h.Dir, TrustDir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("trust: %w", err)
		}
		k, err := sovereignty.ParseOrgPublicKey(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("trust %s: %w", p, err)
		}
		if err := t.AddOrg(k); err != nil {
			return nil, fmt.Errorf("trust %s: %w", p, err)
		}
	}
	revs, _ := filepath.Glob(filepath.Join(h.Dir, RevocationsDir, "*.signed"))
	sort.Strings(revs)
	for _, p := range revs {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("revocations: %w", err)
		}
		if err := t.AddRevocations(b); err != nil {
			return nil, fmt.Errorf("revocations %s: %w", p, err)
		}
	}
	return t, nil
}

// Join installs a certificate for this node and trusts its organisation's
// key. The certificate must name this node's peer ID and verify against
// the key; nothing is written otherwise.
func (h *Home) Join(cert []byte, orgKey string) (*sovereignty.Member, error) {
	k, err := sovereignty.ParseOrgPublicKey(strings.TrimSpace(orgKey))
	if err != nil {
		return nil, fmt.Errorf("join: organisation key: %w", err)
	}
	t, err := sovereignty.NewTrust(k)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	m, err := t.VerifyBytes(cert, h.ID.String(), time.Now())
	if err != nil {
		return nil, fmt.Errorf("join: certificate: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(h.Dir, TrustDir), 0o700); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	name := strings.NewReplacer("/", "_", ":", "_").Replace(sovereignty.FormatOrgPublicKey(k))
	if err := replaceFile(filepath.Join(h.Dir, TrustDir, name+orgPubExtension), []byte(sovereignty.FormatOrgPublicKey(k)+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	if err := replaceFile(filepath.Join(h.Dir, CertFile), cert, 0o644); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	return m, nil
}

// TrustOrg adds an organisation key to those this node trusts (peers of
// another organisation that this one federates with).
func (h *Home) TrustOrg(orgKey string) error {
	k, err := sovereignty.ParseOrgPublicKey(strings.TrimSpace(orgKey))
	if err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(h.Dir, TrustDir), 0o700); err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	name := strings.NewReplacer("/", "_", ":", "_").Replace(sovereignty.FormatOrgPublicKey(k))
	return replaceFile(filepath.Join(h.Dir, TrustDir, name+orgPubExtension), []byte(sovereignty.FormatOrgPublicKey(k)+"\n"), 0o644)
}

// replaceFile writes path atomically (temp file, fsync, rename).
func replaceFile(path string, b []byte, mode os.FileMode) error {
	return atomicfile.Write(path, b, mode)
}

// SaveRevocations keeps a signed revocation list in the home, so it holds
// after a restart.
func (h *Home) SaveRevocations(signed []byte) error {
	r, err := sovereignty.ParseRevocations(signed)
	if err != nil {
		return fmt.Errorf("revocations: %w", err)
	}
	dir := filepath.Join(h.Dir, RevocationsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("revocations: %w", err)
	}
	return replaceFile(filepath.Join(dir, fmt.Sprintf("%s-%020d.signed", r.Org, r.Version)), signed, 0o644)
}
