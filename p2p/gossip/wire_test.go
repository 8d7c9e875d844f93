package gossip

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

const commit = "0123456789abcdef0123456789abcdef01234567"

func sampleHoldings() Holdings {
	return Holdings{Seq: 7, Capacity: 1 << 40, Mirror: true, Held: []Held{
		{Key: "model/acme/llama@main", Commit: commit},
		{Key: "dataset/acme/wiki@v1", Partial: true, Replica: true},
	}, Addrs: [][]byte{[]byte("\x04\x7f\x00\x00\x01\x06\x0f\xa1")}}
}

func TestRoundTrips(t *testing.T) {
	in := Intent{Key: "model/acme/llama@main", Commit: commit, Replicas: 3, Version: 9, Removed: true}
	b, err := EncodeIntent(in)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeIntent(b); err != nil || got != in {
		t.Fatalf("intent: %+v, %v", got, err)
	}
	h := sampleHoldings()
	if b, err = EncodeHoldings(h); err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeHoldings(b); err != nil || !reflect.DeepEqual(got, h) {
		t.Fatalf("holdings: %+v, %v", got, err)
	}
	a := Advert{Seq: 3, Load: 2, Slots: 8, Models: []string{"qwen2", "llama", "llama"}, Addrs: [][]byte{[]byte("\x04\x7f\x00\x00\x01\x06\x0f\xa1")}}
	if b, err = EncodeAdvert(a); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeAdvert(b)
	if err != nil || !reflect.DeepEqual(got.Models, []string{"llama", "qwen2"}) || got.Load != 2 || got.Slots != 8 || !reflect.DeepEqual(got.Addrs, a.Addrs) {
		t.Fatalf("advert: %+v, %v", got, err)
	}
	c := Checkpoint{Seq: 4, Signed: []byte("signed checkpoint")}
	if b, err = EncodeCheckpoint(c); err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeCheckpoint(b); err != nil || got.Seq != 4 || !bytes.Equal(got.Signed, c.Signed) {
		t.Fatalf("checkpoint: %+v, %v", got, err)
	}
	e := envelope{Kind: KindAdvert, Cert: []byte("cert"), Body: []byte("body")}
	if got, err := decodeEnvelope(encodeEnvelope(e)); err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("envelope: %+v, %v", got, err)
	}
	ks, err := decodeRequest(encodeRequest(stateKinds))
	if err != nil || !reflect.DeepEqual(ks, stateKinds) {
		t.Fatalf("request: %v, %v", ks, err)
	}
	msgs := [][]byte{[]byte("one"), {}, []byte("three")}
	if got, err := decodeState(encodeState(msgs), 16); err != nil || len(got) != 3 || string(got[2]) != "three" {
		t.Fatalf("state: %q, %v", got, err)
	}
}

func TestEncodersRefuse(t *testing.T) {
	bad := []error{}
	_, err := EncodeIntent(Intent{Key: "k", Version: 0})
	bad = append(bad, err)
	_, err = EncodeIntent(Intent{Key: "has space", Version: 1})
	bad = append(bad, err)
	_, err = EncodeIntent(Intent{Key: "k", Version: 1, Replicas: MaxReplicas + 1})
	bad = append(bad, err)
	_, err = EncodeIntent(Intent{Key: "k", Version: 1, Commit: "ABC"})
	bad = append(bad, err)
	_, err = EncodeHoldings(Holdings{Seq: 1, Held: make([]Held, MaxHeld+1)})
	bad = append(bad, err)
	_, err = EncodeHoldings(Holdings{Seq: 1, Addrs: make([][]byte, MaxAddrs+1)})
	bad = append(bad, err)
	_, err = EncodeHoldings(Holdings{Seq: 1, Addrs: [][]byte{make([]byte, MaxAddr+1)}})
	bad = append(bad, err)
	_, err = EncodeAdvert(Advert{Seq: 1, Addrs: make([][]byte, MaxAddrs+1)})
	bad = append(bad, err)
	_, err = EncodeAdvert(Advert{Seq: 1, Models: []string{strings.Repeat("m", MaxModel+1)}})
	bad = append(bad, err)
	_, err = EncodeCheckpoint(Checkpoint{Seq: 1})
	bad = append(bad, err)
	for i, err := range bad {
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("case %d: %v, want ErrMalformed", i, err)
		}
	}
}

func TestDecodersRefuse(t *testing.T) {
	h, _ := EncodeHoldings(sampleHoldings())
	cases := map[string]func() error{
		"trailing byte": func() error { _, err := DecodeHoldings(append(h, 0)); return err },
		"truncated":     func() error { _, err := DecodeHoldings(h[:len(h)-1]); return err },
		"huge count": func() error {
			_, err := DecodeHoldings([]byte{1, 0, 0, 0xff, 0xff, 0x03})
			return err
		},
		"bad flags": func() error {
			noAddrs := sampleHoldings()
			noAddrs.Addrs = nil
			b, _ := EncodeHoldings(noAddrs)
			b[len(b)-2] = 0x80 // the last entry's flags, before the address count
			_, err := DecodeHoldings(b)
			return err
		},
		"envelope version": func() error { _, err := decodeEnvelope([]byte{2, 1, 0}); return err },
		"envelope kind":    func() error { _, err := decodeEnvelope([]byte{1, 9, 0}); return err },
		"request audit":    func() error { _, err := decodeRequest([]byte{1, 1}); return err },
		"state count":      func() error { _, err := decodeState([]byte{1, 5, 0}, 16); return err },
		"state message":    func() error { _, err := decodeState([]byte{1, 1, 20, 0}, 16); return err },
	}
	for name, f := range cases {
		if err := f(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	bad := []Config{
		{Org: "a b"},
		{MaxHoldings: 2 << 20},
		{MaxAdvert: 10},
		{InvalidWeight: 5},
		{GossipThreshold: -10, PublishThreshold: -5},
		{MaxOrigins: -1},
		{Heartbeat: time.Microsecond},
	}
	for i, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("case %d: %+v validated", i, c)
		}
	}
}

func TestConnLimits(t *testing.T) {
	low, high := ConnLimits{}.Water()
	if low != 48 || high != DefaultMaxPeers {
		t.Fatalf("default water %d/%d, want 48/64", low, high)
	}
	if low, high = (ConnLimits{MaxPeers: 6, LowWater: 0.5}).Water(); low != 3 || high != 6 {
		t.Fatalf("water %d/%d, want 3/6", low, high)
	}
	for _, c := range []ConnLimits{{MaxPeers: 1}, {LowWater: 1.5}, {GracePeriod: -time.Second}} {
		if _, err := ConnManager(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := ConnManager(ConnLimits{MaxPeers: 6}); err != nil {
		t.Fatal(err)
	}
}
