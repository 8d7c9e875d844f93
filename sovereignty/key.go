package sovereignty

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// OrgKeyPrefix starts the text form of an organisation public key.
const OrgKeyPrefix = "cairn-org:"

// GenerateOrgKey makes a new organisation signing key.
func GenerateOrgKey() (ed25519.PrivateKey, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate organisation key: %w", err)
	}
	return k, nil
}

// WriteOrgKey stores key at path as a PKCS#8 PEM block ("PRIVATE KEY", which
// openssl reads), mode 0600, synced. It refuses to overwrite an existing file
// (ErrKeyExists): losing an organisation key orphans every certificate.
func WriteOrgKey(path string, key ed25519.PrivateKey) error {
	if len(key) != ed25519.PrivateKeySize {
		return fmt.Errorf("write organisation key %s: %w", path, ErrBadKey)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("write organisation key %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("write organisation key %s: %w", path, ErrKeyExists)
	}
	if err != nil {
		return fmt.Errorf("write organisation key: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("write organisation key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write organisation key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write organisation key %s: %w", path, err)
	}
	return nil
}

// ReadOrgKey loads a key written by WriteOrgKey. A file readable by group or
// others is refused (ErrKeyPermissions), as ssh does for private keys.
func ReadOrgKey(path string) (ed25519.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read organisation key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("read organisation key %s: mode %v, want 0600: %w", path, st.Mode().Perm(), ErrKeyPermissions)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read organisation key: %w", err)
	}
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" || len(strings.TrimSpace(string(rest))) != 0 {
		return nil, fmt.Errorf("read organisation key %s: want one PEM \"PRIVATE KEY\" block: %w", path, ErrBadKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("read organisation key %s: %w: %w", path, ErrBadKey, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("read organisation key %s: not an ed25519 key: %w", path, ErrBadKey)
	}
	return ek, nil
}

// FormatOrgPublicKey returns the text form "cairn-org:" + unpadded base64url
// of the 32-byte ed25519 public key.
func FormatOrgPublicKey(pub ed25519.PublicKey) string {
	return OrgKeyPrefix + b64.EncodeToString(pub)
}

// OrgPublicKey returns the public half of an organisation key.
func OrgPublicKey(key ed25519.PrivateKey) ed25519.PublicKey {
	return key.Public().(ed25519.PublicKey)
}

// ParseOrgPublicKey parses the text form made by FormatOrgPublicKey.
func ParseOrgPublicKey(s string) (ed25519.PublicKey, error) {
	rest, ok := strings.CutPrefix(s, OrgKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("organisation public key %q: want prefix %q: %w", trunc(s), OrgKeyPrefix, ErrBadKey)
	}
	b, err := b64.DecodeString(rest)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("organisation public key %q: want 32 bytes of unpadded base64url: %w", trunc(s), ErrBadKey)
	}
	return ed25519.PublicKey(b), nil
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
