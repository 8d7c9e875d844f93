package httpguard

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func serve(h http.Handler, method, host, origin, ctype string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://x/v1/completions", strings.NewReader(`{}`))
	r.Host = host
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	if method == http.MethodOptions {
		r.Header.Set("Access-Control-Request-Method", "POST")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })

func TestHosts(t *testing.T) {
	g := Guard(Config{AllowedHosts: []string{"mirror.example.org"}}, ok)
	for host, want := range map[string]int{
		"127.0.0.1:8080": 418, "localhost:8080": 418, "[::1]:8080": 418, "10.0.0.2:8080": 418, "LOCALHOST": 418,
		"mirror.example.org:8080": 418, "mirror.example.org.": 418,
		"attacker.example.com:8080": 421, "localhost.attacker.com": 421, "127.0.0.1.nip.io:8080": 421,
	} {
		if got := serve(g, "GET", host, "", "").Code; got != want {
			t.Errorf("Host %s: %d, want %d", host, got, want)
		}
	}
	if got := serve(Guard(Config{AllowedHosts: []string{"*"}}, ok), "GET", "anything.example", "", "").Code; got != 418 {
		t.Errorf("* allows any host: %d", got)
	}
}

func TestOrigins(t *testing.T) {
	closed := Guard(Config{}, ok)
	w := serve(closed, "POST", "127.0.0.1:8080", "https://evil.example", "application/json")
	if w.Code != 403 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("unlisted origin: %d %v", w.Code, w.Header())
	}
	if w := serve(closed, "GET", "127.0.0.1:8080", "", ""); w.Code != 418 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("no origin: %d, CORS header %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
	open := Guard(Config{CORSOrigins: []string{"https://ui.example"}}, ok)
	if w := serve(open, "POST", "127.0.0.1:8080", "https://ui.example", "application/json"); w.Code != 418 || w.Header().Get("Access-Control-Allow-Origin") != "https://ui.example" {
		t.Fatalf("listed origin: %d %v", w.Code, w.Header())
	}
	if w := serve(open, "OPTIONS", "127.0.0.1:8080", "https://ui.example", ""); w.Code != 204 || !strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", w.Code, w.Header())
	}
	if w := serve(open, "OPTIONS", "127.0.0.1:8080", "https://other.example", ""); w.Code != 403 {
		t.Fatalf("preflight of an unlisted origin: %d", w.Code)
	}
}

func TestJSONOnly(t *testing.T) {
	h := JSONOnly(ok)
	for ct, want := range map[string]int{
		"application/json": 418, "application/json; charset=utf-8": 418, "application/vnd.api+json": 418,
		"text/plain": 415, "application/x-www-form-urlencoded": 415, "multipart/form-data; boundary=x": 415, "": 415,
	} {
		if got := serve(h, "POST", "127.0.0.1", "", ct).Code; got != want {
			t.Errorf("Content-Type %q: %d, want %d", ct, got, want)
		}
	}
	if got := serve(h, "GET", "127.0.0.1", "", "").Code; got != 418 {
		t.Errorf("GET without a body: %d", got)
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true, "127.0.0.2:9": true,
		"0.0.0.0:8080": false, ":8080": false, "10.1.2.3:80": false, "[::]:80": false} {
		if Loopback(addr) != want {
			t.Errorf("Loopback(%q) = %v", addr, !want)
		}
	}
}
