package p2p

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

func sampleMessage() *message {
	return &message{
		Cert:     []byte("cairn-cert-v1\nversion: 1\n"),
		Versions: []orgVersion{{OrgKey: ed25519.PublicKey(bytes.Repeat([]byte{7}, 32)), Version: 3}},
		Lists:    [][]byte{[]byte("cairn-revocations-v1\n"), []byte("x")},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		m    *message
	}{{"full", sampleMessage()}, {"empty", &message{}}, {"lists only", &message{Lists: [][]byte{[]byte("l")}}}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := writeMessage(&buf, tt.m); err != nil {
				t.Fatal(err)
			}
			got, err := readMessage(bufio.NewReader(&buf), MaxMessageSize)
			if err != nil {
				t.Fatalf("readMessage = %v", err)
			}
			if !reflect.DeepEqual(got, tt.m) {
				t.Errorf("round trip = %+v, want %+v", got, tt.m)
			}
		})
	}
}

func TestDecodeMessageRejects(t *testing.T) {
	good := sampleMessage().encode()
	huge := binary.AppendUvarint([]byte{wireVersion}, 1<<40)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"wrong version", append([]byte{2}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(append([]byte{}, good...), 0)},
		{"huge cert length", huge},
		{"too many lists", binary.AppendUvarint([]byte{wireVersion, 0, 0}, maxLists+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeMessage(tt.b); !errors.Is(err, errBadMessage) {
				t.Errorf("decodeMessage = %v, want errBadMessage", err)
			}
		})
	}
	// A frame longer than the limit is refused before its body is allocated.
	frame := binary.AppendUvarint(nil, MaxMessageSize+1)
	if _, err := readMessage(bufio.NewReader(bytes.NewReader(frame)), MaxMessageSize); !errors.Is(err, errBadMessage) {
		t.Errorf("readMessage(oversized frame) = %v, want errBadMessage", err)
	}
	// The first hello message, from a peer not yet verified, has a much smaller limit.
	var buf bytes.Buffer
	if err := writeMessage(&buf, &message{Lists: [][]byte{make([]byte, maxFirstMessage)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := readMessage(bufio.NewReader(&buf), maxFirstMessage); !errors.Is(err, errBadMessage) {
		t.Errorf("readMessage(first message with lists, %d bytes) = %v, want errBadMessage", buf.Len(), err)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add(sampleMessage().encode())
	f.Add((&message{}).encode())
	f.Add([]byte{wireVersion, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes: the format has one encoding.
		if got := m.encode(); !bytes.Equal(got, b) {
			t.Fatalf("encode(decode(b)) = %x, want %x", got, b)
		}
	})
}
