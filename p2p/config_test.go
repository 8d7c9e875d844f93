package p2p

import (
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
)

func TestConfigValidate(t *testing.T) {
	key := newKey(t)
	rsa, _, err := crypto.GenerateSecp256k1Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	psk := make([]byte, 32)
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"defaults", Config{Key: key}, ""},
		{"no key", Config{}, "Key: required"},
		{"not ed25519", Config{Key: rsa}, "want ed25519"},
		{"bad listen", Config{Key: key, Listen: []string{"tcp:4001"}}, "Listen"},
		{"psk defaults to tcp", Config{Key: key, PSK: psk}, ""},
		{"psk refuses quic", Config{Key: key, PSK: psk, Listen: []string{"/ip4/0.0.0.0/udp/0/quic-v1"}}, "QUIC is off in PSK mode"},
		{"psk length", Config{Key: key, PSK: psk[:5]}, "PSK"},
		{"psk swarm.key", Config{Key: key, PSK: []byte("/key/swarm/psk/1.0.0/\n/base16/\n" + strings.Repeat("ab", 32) + "\n")}, ""},
		{"psk bad swarm.key", Config{Key: key, PSK: []byte("/key/swarm/psk/1.0.0/\n/base16/\nzz\n")}, "swarm.key"},
		{"bootstrap without id", Config{Key: key, Bootstrap: []string{"/ip4/127.0.0.1/tcp/4001"}}, "Bootstrap"},
		{"dht mode", Config{Key: key, DHTMode: "fast"}, "DHTMode"},
		{"negative", Config{Key: key, RefuseFor: -time.Second}, "RefuseFor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want error containing %q", err, tt.want)
			}
		})
	}
	d := Config{Key: key}.withDefaults()
	if len(d.Listen) != 2 || !strings.Contains(d.Listen[1], "quic-v1") || d.DHTMode != DHTAutoServer || d.HelloTimeout != DefaultHelloTimeout {
		t.Errorf("withDefaults() = %+v, want TCP+QUIC on 4001, auto-server, default timers", d)
	}
	if p := (Config{Key: key, PSK: psk}).withDefaults(); len(p.Listen) != 1 || strings.Contains(p.Listen[0], "quic") {
		t.Errorf("PSK withDefaults().Listen = %v, want TCP only", p.Listen)
	}
}

// TestPSKMode: two members on a private network (TCP only) connect; a member without
// the key cannot.
func TestPSKMode(t *testing.T) {
	acme := newOrg(t, "acme")
	now := time.Now()
	psk := []byte("0123456789abcdef0123456789abcdef")
	mk := func(psk []byte) *Host {
		k := newKey(t)
		return newNode(t, nodeOpts{key: k, psk: psk, tcpOnly: true, trust: newTrust(t, acme),
			cert: acme.certify(t, k, "eu", "DE", now.Add(-time.Minute), now.Add(time.Hour))})
	}
	a, b, c := mk(psk), mk(psk), mk(nil)
	for _, addr := range a.Addrs() {
		if isQUIC(addr) {
			t.Errorf("PSK host listens on %s, want TCP only", addr)
		}
	}
	connect(t, b, a)
	ctx, cancel := contextWithTimeout(t, 5*time.Second)
	defer cancel()
	if err := c.Connect(ctx, a.AddrInfo()); err == nil {
		t.Errorf("Connect without the PSK = nil, want failure")
	}
}
