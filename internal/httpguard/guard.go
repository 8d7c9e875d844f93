// Package httpguard keeps web pages of other origins away from a node's
// HTTP API: a Host check against DNS rebinding, CORS only for listed
// origins, and JSON-only bodies on JSON endpoints (a cross-origin form or
// text/plain POST needs no preflight, a JSON one does).
//
// Words:
//   - Allowed host: a name the API answers to. IP literals (a rebinding
//     attack needs a name to rebind) and "localhost" always are; any other
//     name only when listed (http.allowed_hosts). "*" allows every name.
//   - Listed origin: a web origin (scheme://host[:port]) that may call the
//     API from a browser (http.cors_origins); "*" allows any. A request
//     that carries an Origin header not listed is refused: Cairn serves no
//     pages of its own, so no origin is implicitly trusted.
package httpguard

import (
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
)

// Config lists what a Guard lets in. The zero value allows IP literals
// and localhost as hosts, and no browser origin.
type Config struct {
	// AllowedHosts are extra host names (without port) the API answers to.
	AllowedHosts []string
	// CORSOrigins are the browser origins allowed to call the API.
	CORSOrigins []string
}

// Guard wraps next with the host and origin checks.
func Guard(cfg Config, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(r.Host, cfg.AllowedHosts) {
			http.Error(w, "host "+r.Host+" is not allowed (http.allowed_hosts)", http.StatusMisdirectedRequest)
			return
		}
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		if !originAllowed(origin, cfg.CORSOrigins) {
			http.Error(w, "origin "+origin+" is not allowed (http.cors_origins)", http.StatusForbidden)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Range")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", "ETag, X-Repo-Commit, X-Linked-Etag, X-Linked-Size, X-Error-Code, X-Error-Message, Content-Range, Accept-Ranges, Content-Length, Link")
		next.ServeHTTP(w, r)
	})
}

// JSONOnly refuses a request body that is not declared JSON (415): a
// browser sends form and text/plain bodies across origins without asking
// first, JSON ones only after a preflight.
func JSONOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" && !strings.HasSuffix(mt, "+json") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnsupportedMediaType)
				w.Write([]byte(`{"error":{"message":"the request body must be JSON (Content-Type: application/json)","type":"invalid_request_error","param":null,"code":"unsupported_media_type"}}` + "\n"))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func hostAllowed(hostport string, extra []string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "" || host == "localhost" || net.ParseIP(host) != nil {
		return true
	}
	for _, a := range extra {
		if a == "*" || strings.EqualFold(a, host) {
			return true
		}
	}
	return false
}

func originAllowed(origin string, list []string) bool {
	return slices.Contains(list, "*") || slices.ContainsFunc(list, func(o string) bool {
		return strings.EqualFold(strings.TrimSuffix(o, "/"), origin)
	})
}

// Loopback reports whether a listen address binds only loopback
// interfaces (127.0.0.0/8, ::1, localhost); an empty host or 0.0.0.0
// binds every interface.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
