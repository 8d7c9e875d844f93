package tokenizer

import "unicode/utf8"

// Decoder turns a stream of generated ids into text, holding back the bytes
// of a character that is not complete yet (a character split over byte
// tokens such as <0xE2><0x96><0x81>). It renders tokens as Decode does, but
// never strips a leading space. Not safe for concurrent use.
type Decoder struct {
	t       *Tokenizer
	pending []byte
}

// NewDecoder returns a Decoder for t.
func (t *Tokenizer) NewDecoder() *Decoder {
	return &Decoder{t: t, pending: make([]byte, 0, 16)}
}

// Add appends the piece of id and returns the text that is now complete:
// everything except a trailing, still incomplete UTF-8 sequence. Bytes that
// can never become valid UTF-8 are passed through as they are.
func (d *Decoder) Add(id int32) string {
	d.pending = append(d.pending, d.t.piece(id)...)
	n := completePrefix(d.pending)
	if n == 0 {
		return ""
	}
	s := string(d.pending[:n])
	d.pending = append(d.pending[:0], d.pending[n:]...)
	return s
}

// Flush returns the bytes held back, complete or not, and resets d.
func (d *Decoder) Flush() string {
	s := string(d.pending)
	d.pending = d.pending[:0]
	return s
}

// completePrefix returns the length of b without a trailing sequence that
// could still be completed into a valid character by more bytes.
func completePrefix(b []byte) int {
	// A character is at most 4 bytes: only the last 3 can be incomplete.
	for back := 1; back <= 3 && back <= len(b); back++ {
		i := len(b) - back
		c := b[i]
		if c < 0x80 {
			return len(b) // ASCII: nothing after it is a lead byte
		}
		if c >= 0xC0 { // lead byte
			need := utf8LenFromLead(c)
			if c >= 0xF5 || c == 0xC0 || c == 0xC1 || need <= back {
				return len(b) // invalid lead, or complete
			}
			if utf8.FullRune(b[i:]) {
				// FullRune reports true for sequences that are already
				// invalid: those will not become valid, pass them on.
				return len(b)
			}
			return i
		}
		// continuation byte: keep looking for its lead
	}
	return len(b)
}
