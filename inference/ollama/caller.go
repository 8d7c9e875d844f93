package ollama

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/internal/httpauth"
)

// Caller is the checked key of an API request, carried in its context to
// the backend, the model list and the puller, which see no request of
// their own.
type Caller struct {
	Auth         string // the Authorization header, passed on to the router
	Jurisdiction string // the key's jurisdiction, "" for none
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerOf is the Caller that ctx carries, the zero Caller if none.
func CallerOf(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// RequireKey serves h only to requests with one of keys, answering 401
// otherwise, and puts the request's Caller in its context.
func RequireKey(keys httpauth.Keys, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, err := keys.Check(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", httpauth.Challenge)
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"missing or incorrect API key: send \"Authorization: Bearer KEY\" with a key of http.tokens"}`+"\n")
			return
		}
		ctx := WithCaller(r.Context(), Caller{Auth: r.Header.Get("Authorization"), Jurisdiction: key.Jurisdiction})
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// ModelPolicy decides whether a key bound to a jurisdiction may use a
// model id ("" binds nothing).
type ModelPolicy interface {
	MayUseModel(id, jurisdiction string) bool
}

// BoundModels lists and locates only what the caller's key may use.
type BoundModels struct {
	openai.Models
	Policy ModelPolicy
}

// List implements openai.Models.
func (b BoundModels) List(ctx context.Context) ([]openai.ModelEntry, error) {
	all, err := b.Models.List(ctx)
	juris := CallerOf(ctx).Jurisdiction
	if err != nil || juris == "" {
		return all, err
	}
	return slices.DeleteFunc(all, func(m openai.ModelEntry) bool { return !b.Policy.MayUseModel(m.ID, juris) }), nil
}

// Locate implements openai.Models.
func (b BoundModels) Locate(ctx context.Context, id string) (string, error) {
	if !b.Policy.MayUseModel(id, CallerOf(ctx).Jurisdiction) {
		return "", fmt.Errorf("%w: this API key's jurisdiction may not use %q", openai.ErrModelNotFound, id)
	}
	return b.Models.Locate(ctx, id)
}
