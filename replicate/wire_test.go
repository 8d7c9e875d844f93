package replicate

import (
	"errors"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/manifest"
)

const commit = "0123456789abcdef0123456789abcdef01234567"

func TestMessageRoundTrip(t *testing.T) {
	m := Message{
		Intents:  []Intent{{Kind: manifest.Model, Repo: "acme/m", Revision: "main", Commit: commit, Replicas: 3, Version: 7, By: "12D3Koo"}},
		Holdings: &Holdings{Seq: 4, Capacity: 1 << 30, Mirror: true, Held: []Held{{Kind: manifest.Dataset, Repo: "acme/d", Revision: "v1", Commit: commit, Replica: true}}},
	}
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Intents[0] != m.Intents[0] || got.Holdings.Held[0] != m.Holdings.Held[0] || got.Holdings.Capacity != 1<<30 {
		t.Errorf("Decode(Encode(m)) = %+v, want %+v", got, m)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"version", `{"v":2}`, "version"},
		{"unknown field", `{"v":1,"x":1}`, "unknown field"},
		{"trailing", `{"v":1} {}`, "trailing"},
		{"bad kind", `{"v":1,"intents":[{"kind":"space","repo":"a/b","rev":"main","version":1}]}`, "kind"},
		{"bad repo", `{"v":1,"intents":[{"kind":"model","repo":"../b","rev":"main","version":1}]}`, "repo"},
		{"bad rev", `{"v":1,"intents":[{"kind":"model","repo":"a/b","rev":"a..b","version":1}]}`, "revision"},
		{"zero version", `{"v":1,"intents":[{"kind":"model","repo":"a/b","rev":"main","version":0}]}`, "version 0"},
		{"replicas", `{"v":1,"intents":[{"kind":"model","repo":"a/b","rev":"main","version":1,"replicas":5000}]}`, "replicas"},
		{"bad commit", `{"v":1,"holdings":{"seq":1,"capacity":0,"mirror":true,"held":[{"kind":"model","repo":"a/b","rev":"main","commit":"xyz"}]}}`, "commit"},
		{"negative capacity", `{"v":1,"holdings":{"seq":1,"capacity":-1,"mirror":true,"held":[]}}`, "capacity"},
		{"too large", `{"v":1,"by":"` + strings.Repeat("x", MaxMessage) + `"}`, "more than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode(%.40q) = %v, want ErrInvalid naming %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestIntentNewer(t *testing.T) {
	a := Intent{Version: 2, By: "a"}
	for _, tt := range []struct {
		x, y Intent
		want bool
	}{
		{a, Intent{Version: 1, By: "z"}, true},
		{Intent{Version: 1}, a, false},
		{Intent{Version: 2, By: "b"}, a, true},
		{Intent{Version: 2, By: "a", Removed: true}, a, true},
		{a, a, false},
	} {
		if got := tt.x.Newer(tt.y); got != tt.want {
			t.Errorf("%+v.Newer(%+v) = %v, want %v", tt.x, tt.y, got, tt.want)
		}
	}
}

// FuzzDecode: untrusted bytes from any member. Decode must not panic, and
// whatever it accepts must re-encode and decode to the same message.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1,"intents":[{"kind":"model","repo":"acme/m","rev":"main","version":1}]}`))
	f.Add([]byte(`{"v":1,"holdings":{"seq":1,"capacity":10,"mirror":true,"held":[{"kind":"dataset","repo":"a/b","rev":"v1","commit":"` + commit + `","replica":true}]}}`))
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"intents":null,"holdings":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		enc, err := Encode(m)
		if err != nil {
			t.Fatalf("accepted message does not encode: %v", err)
		}
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if len(m2.Intents) != len(m.Intents) || (m.Holdings == nil) != (m2.Holdings == nil) {
			t.Fatalf("round trip changed the message: %+v -> %+v", m, m2)
		}
	})
}
