package gossip

import (
	"reflect"
	"testing"
)

func FuzzDecodeIntent(f *testing.F) {
	b, _ := EncodeIntent(Intent{Key: "model/acme/llama@main", Commit: commit, Replicas: 3, Version: 9})
	f.Add(b)
	f.Add([]byte{1, 1, 'k', 0, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := DecodeIntent(b)
		if err != nil {
			return
		}
		again, err := EncodeIntent(in)
		if err != nil || !reflect.DeepEqual(again, b) {
			t.Fatalf("decoded %+v does not re-encode to its input: %v", in, err)
		}
	})
}

func FuzzDecodeHoldings(f *testing.F) {
	b, _ := EncodeHoldings(sampleHoldings())
	f.Add(b)
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHoldings(b)
		if err != nil {
			return
		}
		again, err := EncodeHoldings(h)
		if err != nil || !reflect.DeepEqual(again, b) {
			t.Fatalf("decoded %+v does not re-encode to its input: %v", h, err)
		}
	})
}

func FuzzDecodeAdvert(f *testing.F) {
	b, _ := EncodeAdvert(Advert{Seq: 1, Load: 1, Slots: 4, Models: []string{"a", "b"}, Addrs: [][]byte{[]byte("\x04\x7f\x00\x00\x01\x06\x0f\xa1")}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeAdvert(b)
		if err != nil {
			return
		}
		again, err := EncodeAdvert(a)
		if err != nil || !reflect.DeepEqual(again, b) {
			t.Fatalf("decoded %+v does not re-encode to its input: %v", a, err)
		}
	})
}

func FuzzDecodeCheckpoint(f *testing.F) {
	b, _ := EncodeCheckpoint(Checkpoint{Seq: 5, Signed: []byte("x")})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCheckpoint(b)
		if err != nil {
			return
		}
		if again, err := EncodeCheckpoint(c); err != nil || !reflect.DeepEqual(again, b) {
			t.Fatalf("decoded %+v does not re-encode to its input: %v", c, err)
		}
	})
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(encodeEnvelope(envelope{Kind: KindPolicy, Cert: []byte("cert"), Body: []byte("body")}))
	f.Add([]byte{1, 7, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEnvelope(b)
		if err != nil {
			return
		}
		if again := encodeEnvelope(e); !reflect.DeepEqual(again, b) {
			t.Fatalf("decoded %+v does not re-encode to its input", e)
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add(encodeRequest(stateKinds))
	f.Fuzz(func(t *testing.T, b []byte) {
		ks, err := decodeRequest(b)
		if err != nil {
			return
		}
		if again := encodeRequest(ks); !reflect.DeepEqual(again, b) {
			t.Fatalf("request %v does not re-encode to its input", ks)
		}
	})
}

// FuzzCatchUpAnswer covers what a late joiner parses from a neighbour: the
// answer's framing and each stored pubsub message with its signature.
func FuzzCatchUpAnswer(f *testing.F) {
	f.Add(encodeState([][]byte{[]byte("not protobuf"), {0x0a, 0x02, 0x00, 0x24}}))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := decodeState(b, 1<<16)
		if err != nil {
			return
		}
		if again := encodeState(msgs); !reflect.DeepEqual(again, b) {
			t.Fatalf("answer does not re-encode to its input")
		}
		for _, m := range msgs {
			if pm, err := parseStored(m); err == nil && len(pm.GetSignature()) == 0 {
				t.Fatal("unsigned stored message accepted")
			}
		}
	})
}
