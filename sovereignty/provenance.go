package sovereignty

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cairnhub/cairn/manifest"
)

// Provenance: a manifest may carry ed25519 signatures of publishers (the
// organisation, or an upstream mirror node acting for it) over
// manifest.SigningBytes. A node checks them before it serves a manifest to
// a peer (catalog protocol) and before it commits one pulled from a peer:
//
//   - every signature present must verify; one that does not means the
//     manifest was altered after signing, and it is refused whatever the
//     configuration says;
//   - a signature counts when its key is a publisher of the trust
//     configuration (the publishers passed to VerifyManifest);
//   - a manifest with no counting signature is accepted unless
//     requireSigned is set. Unsigned manifests are the
//     default within an organisation because only members (certificates
//     of a trusted organisation) can serve manifests at all; set
//     require_signed when members themselves are not to be trusted with
//     content.

// ErrProvenance: a manifest's signatures do not satisfy the trust
// configuration.
var ErrProvenance = errors.New("manifest provenance refused")

// SignManifest adds (or replaces) key's signature over m.SigningBytes.
// Re-commit m to keep it (store.Commit replaces a stored manifest of the
// same commit and root).
func SignManifest(m *manifest.Manifest, key ed25519.PrivateKey) error {
	if len(key) != ed25519.PrivateKeySize {
		return fmt.Errorf("sign manifest: %w", ErrBadKey)
	}
	msg, err := m.SigningBytes()
	if err != nil {
		return fmt.Errorf("sign manifest %s: %w", m.Repo, err)
	}
	pub := FormatOrgPublicKey(key.Public().(ed25519.PublicKey))
	sig := manifest.Signature{Key: pub, Sig: ed25519.Sign(key, msg)}
	m.Signatures = slices.DeleteFunc(m.Signatures, func(s manifest.Signature) bool { return s.Key == pub })
	m.Signatures = append(m.Signatures, sig)
	slices.SortFunc(m.Signatures, func(a, b manifest.Signature) int { return strings.Compare(a.Key, b.Key) })
	return nil
}

// VerifyManifest checks m's signatures: every one must verify (ErrProvenance
// wrapping ErrBadSignature otherwise); it returns the keys of
// the signatures by publishers. With requireSigned, none is an error.
func VerifyManifest(m *manifest.Manifest, publishers []ed25519.PublicKey, requireSigned bool) (signers []string, err error) {
	if len(m.Signatures) > 0 {
		msg, err := m.SigningBytes()
		if err != nil {
			return nil, fmt.Errorf("%s@%s: %w: %w", m.Repo, m.Commit, ErrProvenance, err)
		}
		for _, s := range m.Signatures {
			k, err := ParseOrgPublicKey(s.Key)
			if err != nil {
				return nil, fmt.Errorf("%s@%s: %w: signature key %q: %w", m.Repo, m.Commit, ErrProvenance, s.Key, err)
			}
			if !ed25519.Verify(k, msg, s.Sig) {
				return nil, fmt.Errorf("%s@%s: %w: signature by %s does not verify (altered after signing?): %w", m.Repo, m.Commit, ErrProvenance, s.Key, ErrBadSignature)
			}
			if slices.ContainsFunc(publishers, func(p ed25519.PublicKey) bool { return p.Equal(k) }) {
				signers = append(signers, s.Key)
			}
		}
	}
	if requireSigned && len(signers) == 0 {
		return nil, fmt.Errorf("%s@%s: %w: not signed by a trusted publisher (provenance.require_signed)", m.Repo, m.Commit, ErrProvenance)
	}
	return signers, nil
}
