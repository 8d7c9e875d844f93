package httpauth

import (
	"errors"
	"net/http"
	"testing"
)

func TestCheck(t *testing.T) {
	keys := Keys{{Token: "de-key", Jurisdiction: "DE"}, {Token: "any-key"}, {Token: "dup", Jurisdiction: "FR"}, {Token: "dup", Jurisdiction: "DE"}}
	for _, tt := range []struct {
		name   string
		keys   Keys
		header string // "" sends no Authorization header
		want   Key
		err    error
	}{
		{"open, no header", nil, "", Key{}, nil},
		{"open, any header", nil, "Bearer whatever", Key{}, nil},
		{"bound key", keys, "Bearer de-key", keys[0], nil},
		{"unbound key", keys, "Bearer any-key", keys[1], nil},
		{"lower-case scheme", keys, "bearer de-key", keys[0], nil},
		{"upper-case scheme", keys, "BEARER any-key", keys[1], nil},
		{"extra spaces", keys, "Bearer   any-key", keys[1], nil},
		{"last duplicate wins", keys, "Bearer dup", keys[3], nil},
		{"no header", keys, "", Key{}, ErrMissing},
		{"other scheme", keys, "Basic ZGUta2V5", Key{}, ErrMissing},
		{"scheme only", keys, "Bearer", Key{}, ErrMissing},
		{"empty token", keys, "Bearer ", Key{}, ErrMissing},
		{"unknown token", keys, "Bearer nope", Key{}, ErrInvalid},
		{"prefix of a key", keys, "Bearer de-ke", Key{}, ErrInvalid},
		{"key with suffix", keys, "Bearer de-key2", Key{}, ErrInvalid},
		{"token case matters", keys, "Bearer DE-KEY", Key{}, ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			got, err := tt.keys.Check(r)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("Check(%q) = %+v, %v; want %+v, %v", tt.header, got, err, tt.want, tt.err)
			}
		})
	}
}
