package modelsign

import (
	"fmt"
	"strings"
)

// pae is DSSE v1's pre-authentication encoding, the bytes actually signed.
func pae(payloadType string, payload []byte) []byte {
	head := fmt.Sprintf("DSSEv1 %d %s %d ", len(payloadType), payloadType, len(payload))
	return append([]byte(head), payload...)
}

// paeCompat reproduces the encoding model_signing v0.2 signed by mistake: an
// upper-case "DSSEV1" and the payload spliced in as Python's repr of bytes.
// Only verification uses it, so that bundles from that release still verify.
func paeCompat(payloadType string, payload []byte) []byte {
	return fmt.Appendf(nil, "DSSEV1 %d %s %d %s", len(payloadType), payloadType, len(payload), pyBytesRepr(payload))
}

// pyBytesRepr renders b as Python 3's repr(bytes) does.
func pyBytesRepr(b []byte) string {
	quote := byte('\'')
	if strings.IndexByte(string(b), '\'') >= 0 && strings.IndexByte(string(b), '"') < 0 {
		quote = '"'
	}
	var s strings.Builder
	s.Grow(len(b) + 3)
	s.WriteByte('b')
	s.WriteByte(quote)
	for _, c := range b {
		switch {
		case c == quote || c == '\\':
			s.WriteByte('\\')
			s.WriteByte(c)
		case c == '\t':
			s.WriteString(`\t`)
		case c == '\n':
			s.WriteString(`\n`)
		case c == '\r':
			s.WriteString(`\r`)
		case c < ' ' || c >= 0x7f:
			fmt.Fprintf(&s, `\x%02x`, c)
		default:
			s.WriteByte(c)
		}
	}
	s.WriteByte(quote)
	return s.String()
}
