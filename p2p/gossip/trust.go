package gossip

import (
	"fmt"

	"github.com/cairnhub/cairn/sovereignty"
)

// TrustDocuments implements Documents over a trust set: a policy or a
// revocation list passes when an organisation of the set signed it.
// Nothing is put in force: that is the handlers' job.
type TrustDocuments struct {
	Trust *sovereignty.Trust
}

// CheckPolicy verifies a signed policy envelope and the policy in it.
func (d TrustDocuments) CheckPolicy(signed []byte) (string, uint64, error) {
	p, err := sovereignty.VerifyPolicy(d.Trust, signed)
	if err != nil {
		return "", 0, err
	}
	return sovereignty.FormatOrgPublicKey(p.OrgKey), p.Version, nil
}

// CheckRevocations verifies a signed revocation list.
func (d TrustDocuments) CheckRevocations(signed []byte) (string, uint64, error) {
	r, err := sovereignty.ParseRevocations(signed)
	if err != nil {
		return "", 0, err
	}
	if !d.Trust.Trusted(r.OrgKey) {
		return "", 0, fmt.Errorf("revocations of org %q: %w", r.Org, sovereignty.ErrUntrustedOrg)
	}
	// A scratch trust set holding only the signer checks the signature
	// without installing the list in the node's own.
	scratch, err := sovereignty.NewTrust(r.OrgKey)
	if err != nil {
		return "", 0, err
	}
	if err := scratch.AddRevocations(signed); err != nil {
		return "", 0, err
	}
	return sovereignty.FormatOrgPublicKey(r.OrgKey), r.Version, nil
}
