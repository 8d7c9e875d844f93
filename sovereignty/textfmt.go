package sovereignty

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"time"
)

// Signed documents (certificates, revocation lists, policy envelopes) share
// one line format: a header line naming type and format version, which also
// domain-separates the signatures, then "key: value" lines in a fixed order,
// the last being "signature: ...". The signature covers every byte before the
// signature line. Decoders re-encode what they parsed and require the same
// bytes, so each document has exactly one accepted encoding.

// b64 is the binary-to-text encoding of keys and signatures: unpadded
// base64url, strict (no non-zero trailing bits), so each value has one form.
var b64 = base64.RawURLEncoding.Strict()

type field struct{ key, val string }

func appendField(b []byte, key, val string) []byte {
	b = append(b, key...)
	b = append(b, ':', ' ')
	b = append(b, val...)
	return append(b, '\n')
}

// splitFields checks the header line and splits the rest into fields. It
// checks shape only; each document type checks keys, order and values.
func splitFields(doc string, b []byte, header string) ([]field, error) {
	if !bytes.HasPrefix(b, []byte(header+"\n")) {
		return nil, fmt.Errorf("%s: missing header line %q: %w", doc, header, ErrMalformed)
	}
	b = b[len(header)+1:]
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return nil, fmt.Errorf("%s: must end with a newline: %w", doc, ErrMalformed)
	}
	var fs []field
	for line := 2; len(b) > 0; line++ {
		i := bytes.IndexByte(b, '\n')
		l := b[:i]
		b = b[i+1:]
		k := bytes.Index(l, []byte(": "))
		if k <= 0 {
			return nil, fmt.Errorf("%s: line %d: want \"key: value\": %w", doc, line, ErrMalformed)
		}
		key, val := l[:k], l[k+2:]
		for _, c := range key {
			if (c < 'a' || c > 'z') && c != '-' {
				return nil, fmt.Errorf("%s: line %d: bad key: %w", doc, line, ErrMalformed)
			}
		}
		for _, c := range val {
			if c < 0x21 || c > 0x7e { // printable ASCII, no spaces: values are tokens
				return nil, fmt.Errorf("%s: line %d (%s): non-printable or space in value: %w", doc, line, key, ErrBadField)
			}
		}
		if len(val) == 0 {
			return nil, fmt.Errorf("%s: line %d (%s): empty value: %w", doc, line, key, ErrBadField)
		}
		fs = append(fs, field{string(key), string(val)})
	}
	return fs, nil
}

// expectKeys checks fs against the fixed key order of a document type.
func expectKeys(doc string, fs []field, keys []string) error {
	known := make(map[string]bool, len(keys))
	for _, k := range keys {
		known[k] = true
	}
	for i, f := range fs {
		if !known[f.key] {
			return fmt.Errorf("%s: field %q: %w", doc, f.key, ErrUnknownField)
		}
		if i >= len(keys) || f.key != keys[i] {
			return fmt.Errorf("%s: field %q out of order or repeated (want %q at position %d): %w", doc, f.key, keyAt(keys, i), i+1, ErrMalformed)
		}
	}
	if len(fs) < len(keys) {
		return fmt.Errorf("%s: missing field %q: %w", doc, keys[len(fs)], ErrMalformed)
	}
	return nil
}

func keyAt(keys []string, i int) string {
	if i < len(keys) {
		return keys[i]
	}
	return "(end)"
}

const timeLayout = "2006-01-02T15:04:05Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(doc, key, v string) (time.Time, error) {
	t, err := time.Parse(timeLayout, v)
	if err != nil || t.Format(timeLayout) != v {
		return time.Time{}, fmt.Errorf("%s: field %q: want UTC time like 2026-01-02T15:04:05Z: %w", doc, key, ErrBadField)
	}
	return t, nil
}

func parseSig(doc, v string) ([]byte, error) {
	s, err := b64.DecodeString(v)
	if err != nil || len(s) != 64 {
		return nil, fmt.Errorf("%s: field \"signature\": want 64 bytes of unpadded base64url: %w", doc, ErrBadField)
	}
	return s, nil
}

// token reports whether s is 1..max characters from [A-Za-z0-9._-], the
// alphabet of organisation names, regions, roles and serials.
func token(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validPeerID accepts the alphabets of libp2p peer IDs (base58btc, or base32
// when written as a CID); the p2p layer compares them as strings.
func validPeerID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
