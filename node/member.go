package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cairnhub/cairn/internal/atomicfile"
	"github.com/cairnhub/cairn/sovereignty"
)

// Membership files of a home.
const (
	CertFile        = "member.cert"   // this node's certificate
	TrustDir        = "trust"         // trusted organisation keys, one *.pub file each
	RevocationsDir  = "revocations"   // signed revocation lists, *.signed
	PolicyFile      = "policy.signed" // the signed residency policy in force
	AuditFile       = "audit.log"
	orgPubExtension = ".pub"
)

// Certificate returns this node's certificate bytes, or nil when it has
// not joined an organisation.
func (n *Node) Certificate() ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(n.Home, CertFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	return b, nil
}

// Trust loads the trusted organisation keys and the revocation lists.
func (n *Node) Trust() (*sovereignty.Trust, error) {
	t, err := sovereignty.NewTrust()
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(filepath.Join(n.Home, TrustDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("trust: %w", err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), orgPubExtension) {
			continue
		}
		p := filepath.Join(n.Home, TrustDir, e.Name())
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
	revs, _ := filepath.Glob(filepath.Join(n.Home, RevocationsDir, "*.signed"))
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
func (n *Node) Join(cert []byte, orgKey string) (*sovereignty.Member, error) {
	k, err := sovereignty.ParseOrgPublicKey(strings.TrimSpace(orgKey))
	if err != nil {
		return nil, fmt.Errorf("join: organisation key: %w", err)
	}
	t, err := sovereignty.NewTrust(k)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	m, err := t.VerifyBytes(cert, n.ID.String(), now())
	if err != nil {
		return nil, fmt.Errorf("join: certificate: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(n.Home, TrustDir), 0o700); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	name := strings.NewReplacer("/", "_", ":", "_").Replace(sovereignty.FormatOrgPublicKey(k))
	if err := replaceFile(filepath.Join(n.Home, TrustDir, name+orgPubExtension), []byte(sovereignty.FormatOrgPublicKey(k)+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	if err := replaceFile(filepath.Join(n.Home, CertFile), cert, 0o644); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	return m, nil
}

// Trust adds an organisation key to those this node trusts (peers of
// another organisation that this one federates with).
func (n *Node) TrustOrg(orgKey string) error {
	k, err := sovereignty.ParseOrgPublicKey(strings.TrimSpace(orgKey))
	if err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(n.Home, TrustDir), 0o700); err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	name := strings.NewReplacer("/", "_", ":", "_").Replace(sovereignty.FormatOrgPublicKey(k))
	return replaceFile(filepath.Join(n.Home, TrustDir, name+orgPubExtension), []byte(sovereignty.FormatOrgPublicKey(k)+"\n"), 0o644)
}

// replaceFile writes path atomically (temp file, fsync, rename).
func replaceFile(path string, b []byte, mode os.FileMode) error {
	return atomicfile.Write(path, b, mode)
}

// SaveRevocations keeps a signed revocation list in the home, so it holds
// after a restart.
func (n *Node) SaveRevocations(signed []byte) error {
	r, err := sovereignty.ParseRevocations(signed)
	if err != nil {
		return fmt.Errorf("revocations: %w", err)
	}
	dir := filepath.Join(n.Home, RevocationsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("revocations: %w", err)
	}
	return replaceFile(filepath.Join(dir, fmt.Sprintf("%s-%020d.signed", r.Org, r.Version)), signed, 0o644)
}
