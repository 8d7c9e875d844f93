package sovereignty

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them, so
// callers branch with errors.Is and still get a message naming the field,
// file or rule at fault.
var (
	// Decoding of untrusted bytes.

	// ErrTooLarge: the input exceeds the size limit of its document type.
	ErrTooLarge = errors.New("document too large")
	// ErrMalformed: the input does not follow the document syntax (header,
	// line shape, field order, missing field, non-canonical encoding).
	ErrMalformed = errors.New("malformed document")
	// ErrUnknownField: the input carries a field this version does not define.
	ErrUnknownField = errors.New("unknown field")
	// ErrBadField: a field value is invalid (bad characters, length, base64, time).
	ErrBadField = errors.New("invalid field value")
	// ErrBadJurisdiction: a jurisdiction is not an ISO 3166-1 alpha-2 code.
	ErrBadJurisdiction = errors.New("not an ISO 3166-1 alpha-2 code")
	// ErrBadVersion: the document version is not supported.
	ErrBadVersion = errors.New("unsupported version")
	// ErrBadKey: an organisation key is malformed or has the wrong length.
	ErrBadKey = errors.New("invalid organisation key")

	// Verification.

	// ErrUntrustedOrg: the signing organisation key is not in the trust set.
	ErrUntrustedOrg = errors.New("organisation not trusted")
	// ErrBadSignature: the signature does not verify over the canonical bytes.
	ErrBadSignature = errors.New("bad signature")
	// ErrWrongPeer: the certificate names another peer than the one presenting it.
	ErrWrongPeer = errors.New("certificate issued to another peer")
	// ErrExpired: the certificate's expiry is at or before the check time.
	ErrExpired = errors.New("certificate expired")
	// ErrNotYetValid: the check time is before the certificate's not-before.
	ErrNotYetValid = errors.New("certificate not yet valid")
	// ErrRevoked: the certificate's serial is on its organisation's revocation list.
	ErrRevoked = errors.New("certificate revoked")
	// ErrStale: a revocation list or policy is not newer than the one held;
	// gossip re-delivers documents, so callers usually ignore this one.
	ErrStale = errors.New("not newer than the version held")

	// Policy.

	// ErrInvalidPolicy: a policy document fails validation; the message names
	// the rule index and field.
	ErrInvalidPolicy = errors.New("invalid policy")

	// ErrPolicyRefused: the policy in force does not let this node take a
	// repo in (see *RefusedError).
	ErrPolicyRefused = errors.New("refused by the residency policy")

	// Audit.

	// ErrAuditBroken: the audit chain is broken; the message names the first
	// bad line and sequence number (see *AuditError).
	ErrAuditBroken = errors.New("audit log chain broken")

	// Keys on disk.

	// ErrKeyExists: WriteOrgKey refuses to overwrite an existing file.
	ErrKeyExists = errors.New("key file already exists")
	// ErrKeyPermissions: an organisation key file is readable by group or others.
	ErrKeyPermissions = errors.New("key file permissions too open")
)
