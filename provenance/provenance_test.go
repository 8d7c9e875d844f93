package provenance

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/cairnhub/cairn/config"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/modelsign"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store/storetest"
)

func revision(t *testing.T, repo string, files ...string) *manifest.Manifest {
	t.Helper()
	var fs []storetest.File
	for _, f := range files {
		fs = append(fs, storetest.File{Path: f, Data: []byte(f)})
	}
	return storetest.BuildRevision(t, nil, manifest.Model, repo, fs).Manifest
}

func TestManifestSignatures(t *testing.T) {
	org, err := sovereignty.GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	trusted := []ed25519.PublicKey{sovereignty.OrgPublicKey(org)}
	signed := revision(t, "acme/signed", "a")
	if err := sovereignty.SignManifest(signed, org); err != nil {
		t.Fatal(err)
	}
	unsigned := revision(t, "acme/unsigned", "a")
	withSig := revision(t, "acme/bundle", "a", modelsign.SignatureFile)

	lax := New(config.Provenance{}, trusted)
	strict := New(config.Provenance{RequireSigned: true}, trusted)
	for _, tt := range []struct {
		name string
		c    *Checker
		m    *manifest.Manifest
		ok   bool
	}{
		{"lax signed", lax, signed, true},
		{"lax unsigned", lax, unsigned, true},
		{"strict signed", strict, signed, true},
		{"strict unsigned", strict, unsigned, false},
		{"strict with model.sig", strict, withSig, true}, // held to it once its bytes are here
		{"other publisher", New(config.Provenance{RequireSigned: true, Publishers: []string{sovereignty.FormatOrgPublicKey(sovereignty.OrgPublicKey(mustKey(t)))}}, trusted), signed, false},
	} {
		if err := tt.c.Manifest(tt.m); (err == nil) != tt.ok {
			t.Errorf("%s: Manifest = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestRevisionModelSig(t *testing.T) {
	st := storetest.Open(t)
	plain := revision(t, "acme/plain", "a")
	withSig := revision(t, "acme/bundle", "a", modelsign.SignatureFile)
	if err := New(config.Provenance{RequireSigned: true}, nil).Revision(t.Context(), st, plain); err != nil {
		t.Errorf("a revision without model.sig: %v", err)
	}
	if err := New(config.Provenance{}, nil).Revision(t.Context(), st, withSig); err != nil {
		t.Errorf("model.sig without keys, not require_signed: %v", err)
	}
	err := New(config.Provenance{RequireSigned: true}, nil).Revision(t.Context(), st, withSig)
	if !errors.Is(err, sovereignty.ErrProvenance) {
		t.Errorf("model.sig that nothing can verify under require_signed: %v, want ErrProvenance", err)
	}
}

func mustKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	k, err := sovereignty.GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
