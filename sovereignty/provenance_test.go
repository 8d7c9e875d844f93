package sovereignty

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/cairnhub/cairn/manifest"
)

func TestVerifyManifest(t *testing.T) {
	k1, _ := GenerateOrgKey()
	k2, _ := GenerateOrgKey()
	base := &manifest.Manifest{Version: 1, Type: manifest.Model, Repo: "acme/m", Commit: strings.Repeat("ab", 20), Created: time.UnixMilli(1).UTC(), Files: []manifest.File{}}
	base.Root = mustCID(t)
	signed := func(keys ...ed25519.PrivateKey) *manifest.Manifest {
		m := *base
		m.Signatures = nil
		for _, k := range keys {
			if err := SignManifest(&m, k); err != nil {
				t.Fatal(err)
			}
		}
		return &m
	}
	tampered := signed(k1)
	tampered.Repo = "acme/other"
	pubs := []ed25519.PublicKey{OrgPublicKey(k1)}
	for _, tt := range []struct {
		name    string
		m       *manifest.Manifest
		require bool
		signers int
		err     string
	}{
		{"unsigned accepted", signed(), false, 0, ""},
		{"unsigned required", signed(), true, 0, "not signed by a trusted publisher"},
		{"publisher", signed(k1), true, 1, ""},
		{"other key only", signed(k2), true, 0, "not signed by a trusted publisher"},
		{"other key accepted unsigned-like", signed(k2), false, 0, ""},
		{"both", signed(k1, k2), true, 1, ""},
		{"tampered", tampered, false, 0, "does not verify"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := VerifyManifest(tt.m, pubs, tt.require)
			if tt.err == "" {
				if err != nil || len(s) != tt.signers {
					t.Errorf("VerifyManifest = %v, %v; want %d signers", s, err, tt.signers)
				}
				return
			}
			if !errors.Is(err, ErrProvenance) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("VerifyManifest = %v, want ErrProvenance naming %q", err, tt.err)
			}
		})
	}
	// Re-signing with the same key replaces the signature.
	m := signed(k1)
	SignManifest(m, k1)
	if len(m.Signatures) != 1 {
		t.Errorf("re-signed: %d signatures, want 1", len(m.Signatures))
	}
	if _, err := m.Encode(); err != nil {
		t.Errorf("signed manifest does not encode: %v", err)
	}
}

func mustCID(t *testing.T) cid.Cid {
	t.Helper()
	h, err := multihash.Sum([]byte("root"), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.DagProtobuf, h)
}
