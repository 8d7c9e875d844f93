package hfapi

import (
	"context"
	"errors"
	"fmt"
	"github.com/cairnhub/cairn/manifest"
	"log/slog"
	"net/url"
	"strings"
)

// Options configure a Server. The zero value is valid: an open API.
type Options struct {
	// Tokens are the bearer tokens allowed to read. Default none: the API is
	// open to whoever reaches it.
	Tokens []Token
	// Decider answers residency questions for tokens bound to a
	// jurisdiction. Default nil: such tokens read nothing.
	Decider Decider
	// Auditor records refusals. Default nil: refusals are only logged.
	Auditor Auditor
	// BaseURL is the API's URL as clients see it, used in pagination links.
	// Default "": scheme and Host of each request.
	BaseURL string
	// PageSize is the number of entries per page of a listing when the
	// client does not ask (limit=). Default 1000, as the Hub.
	PageSize int
	// Logger receives a debug line per request. Default slog.Default().
	Logger *slog.Logger
	// Quarantine reports whether a revision is withheld by the compliance
	// gate, and why; such a revision is answered 451 with X-Error-Code
	// "Quarantined". Default nil: nothing is withheld.
	Quarantine func(ctx context.Context, m *manifest.Manifest) (reason string, withheld bool)
	// FileScans gives the gate's verdict per file path of a revision, for
	// tree and paths-info listings with expand (securityFileStatus).
	// Default nil: none listed.
	FileScans func(ctx context.Context, m *manifest.Manifest) map[string]FileScan
}

// Token is one bearer token of the API.
type Token struct {
	// Token is the secret sent as "Authorization: Bearer TOKEN". Required.
	Token string
	// Jurisdiction (ISO 3166 code) binds the token's reads to the residency
	// policy. Default "": the token reads everything the node holds.
	Jurisdiction string
}

const (
	defaultPageSize = 1000
	maxPageSize     = 10000
)

// Validate checks the options.
func (o Options) Validate() error {
	for i, t := range o.Tokens {
		if t.Token == "" {
			return fmt.Errorf("hfapi: tokens[%d]: empty token", i)
		}
		if strings.ContainsAny(t.Token, " \t\r\n") {
			return fmt.Errorf("hfapi: tokens[%d]: token holds white space", i)
		}
		if t.Jurisdiction != "" && (len(t.Jurisdiction) != 2 || strings.ToUpper(t.Jurisdiction) != t.Jurisdiction) {
			return fmt.Errorf("hfapi: tokens[%d]: jurisdiction %q is not an ISO 3166 alpha-2 code", i, t.Jurisdiction)
		}
	}
	if o.PageSize < 0 || o.PageSize > maxPageSize {
		return fmt.Errorf("hfapi: page size %d: want 0 (default) to %d", o.PageSize, maxPageSize)
	}
	if o.BaseURL != "" {
		u, err := url.Parse(o.BaseURL)
		if err != nil {
			return fmt.Errorf("hfapi: base URL %q: %w", o.BaseURL, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return errors.New("hfapi: base URL " + o.BaseURL + ": want http(s)://host[:port][/prefix]")
		}
	}
	return nil
}
