package httpauth

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
)

// Challenge is the WWW-Authenticate value of a 401.
const Challenge = `Bearer realm="cairn"`

// Errors of Check.
var (
	// ErrMissing: the request sends no bearer token.
	ErrMissing = errors.New("httpauth: no bearer token")
	// ErrInvalid: the token is none of the keys.
	ErrInvalid = errors.New("httpauth: unknown bearer token")
)

// Key is a bearer token and the jurisdiction it is bound to ("" for none).
type Key struct {
	Token        string
	Jurisdiction string
}

// Keys are the keys a server accepts. Empty: the API is open.
type Keys []Key

// Open reports whether no key is configured.
func (ks Keys) Open() bool { return len(ks) == 0 }

// Check returns the key the request's bearer token matches. With no keys
// it returns the zero Key: open, bound to nothing. Every key is compared,
// in constant time, and the match is selected without a branch, so timing
// tells nothing about which key matched; when tokens repeat, the last
// entry wins.
func (ks Keys) Check(r *http.Request) (Key, error) {
	if ks.Open() {
		return Key{}, nil
	}
	tok, ok := Token(r.Header.Get("Authorization"))
	if !ok {
		return Key{}, ErrMissing
	}
	match := -1
	for i, k := range ks {
		match = subtle.ConstantTimeSelect(subtle.ConstantTimeCompare([]byte(tok), []byte(k.Token)), i, match)
	}
	if match < 0 {
		return Key{}, ErrInvalid
	}
	return ks[match], nil
}

// Token is the token of an Authorization header value with the Bearer
// scheme, in any case; ok is false for another scheme or an empty token.
func Token(header string) (tok string, ok bool) {
	scheme, tok, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimLeft(tok, " ")
	return tok, tok != ""
}
