package home

import (
	"crypto/ed25519"
	"fmt"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/cairnhub/cairn/sovereignty"
)

// AuditKey is the node's identity key as an ed25519 key, which signs the
// checkpoints of its audit log.
func (h *Home) AuditKey() (ed25519.PrivateKey, error) {
	if h.Identity.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("identity: audit checkpoints need an ed25519 key, have %s", h.Identity.Type())
	}
	raw, err := h.Identity.Raw()
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("identity: ed25519 key of %d bytes", len(raw))
	}
	return ed25519.PrivateKey(raw), nil
}

// OpenAudit opens the home's audit log with the node key as checkpoint
// signer. Every writer of the log opens it so: after a clean shutdown the
// log is sealed by a final checkpoint, and only a signing writer may
// continue it. Close writes the final checkpoint.
func (h *Home) OpenAudit() (*sovereignty.Audit, error) {
	k, err := h.AuditKey()
	if err != nil {
		return nil, err
	}
	a, err := sovereignty.OpenAuditWith(filepath.Join(h.Dir, AuditFile), sovereignty.AuditOptions{Signer: sovereignty.KeySigner(k), Node: h.ID.String()})
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return a, nil
}

// VerifyAudit checks the home's audit log against the node key and the
// checkpoints given (held by other members).
func (h *Home) VerifyAudit(peers []sovereignty.Checkpoint) (sovereignty.AuditReport, error) {
	k, err := h.AuditKey()
	if err != nil {
		return sovereignty.AuditReport{}, err
	}
	return sovereignty.VerifyAuditLog(filepath.Join(h.Dir, AuditFile), sovereignty.VerifyOptions{Key: k.Public().(ed25519.PublicKey), Peers: peers})
}
