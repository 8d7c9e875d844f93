package infer

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	frames := []struct {
		kind    byte
		payload string
	}{
		{KindQuery, ""},
		{KindRequest, `{"path":"/v1/completions","model":"acme/m","body":{"model":"acme/m","prompt":"x"}}`},
		{KindData, "data: {}\n\n"},
		{KindEnd, ""},
	}
	for _, f := range frames {
		if err := WriteFrame(&buf, f.kind, []byte(f.payload)); err != nil {
			t.Fatal(err)
		}
	}
	for i, f := range frames {
		k, p, err := ReadFrame(&buf)
		if err != nil || k != f.kind || string(p) != f.payload {
			t.Errorf("frame %d = %q %q %v, want %q %q", i, k, p, err, f.kind, f.payload)
		}
	}
	if _, _, err := ReadFrame(&buf); err != io.EOF {
		t.Errorf("ReadFrame at the end = %v, want io.EOF", err)
	}
}

func TestReadFrameErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   []byte
		want error
	}{
		{"unknown kind", []byte{'Z', 0, 0, 0, 0}, ErrFrame},
		{"too long", []byte{'D', 0xff, 0xff, 0xff, 0xff}, ErrFrame},
		{"cut header", []byte{'D', 0, 0}, io.ErrUnexpectedEOF},
		{"cut payload", []byte{'D', 0, 0, 0, 9, 'x'}, io.ErrUnexpectedEOF},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := ReadFrame(bytes.NewReader(tt.in)); !errors.Is(err, tt.want) {
				t.Errorf("ReadFrame(%x) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

func TestDecodeValidates(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		v    interface{ Validate() error }
		ok   bool
	}{
		{"request", `{"path":"/v1/chat/completions","model":"acme/m","body":{"a":1}}`, &Request{}, true},
		{"request bad path", `{"path":"/admin","model":"acme/m","body":{}}`, &Request{}, false},
		{"request no model", `{"path":"/v1/completions","model":"","body":{}}`, &Request{}, false},
		{"request no body", `{"path":"/v1/completions","model":"m"}`, &Request{}, false},
		{"head", `{"status":200,"content_type":"text/event-stream"}`, &Head{}, true},
		{"head bad status", `{"status":42}`, &Head{}, false},
		{"head header injection", `{"status":200,"content_type":"a\r\nb"}`, &Head{}, false},
		{"advert", `{"serving":true,"models":[{"repo":"acme/m","rev":"main","files":["m.gguf"],"loaded":true}],"load":1}`, &Advert{}, true},
		{"advert negative load", `{"load":-1}`, &Advert{}, false},
		{"advert empty repo", `{"models":[{"repo":""}]}`, &Advert{}, false},
		{"trailing data", `{"status":200} {}`, &Head{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Decode([]byte(tt.in), tt.v)
			if (err == nil) != tt.ok {
				t.Errorf("Decode(%s) = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrFrame) {
				t.Errorf("Decode(%s) = %v, want ErrFrame", tt.in, err)
			}
		})
	}
}

// FuzzReadFrame: any bytes give frames or an error, never a panic or an
// allocation beyond MaxFrame; decoded payloads validate or fail cleanly.
func FuzzReadFrame(f *testing.F) {
	var seed bytes.Buffer
	WriteFrame(&seed, KindRequest, []byte(`{"path":"/v1/completions","model":"acme/m","body":{"prompt":"x"}}`))
	WriteFrame(&seed, KindHead, []byte(`{"status":200,"content_type":"text/event-stream"}`))
	WriteFrame(&seed, KindAdvert, []byte(`{"serving":true,"models":[{"repo":"acme/m","rev":"main"}],"load":0}`))
	WriteFrame(&seed, KindEnd, nil)
	f.Add(seed.Bytes())
	f.Add([]byte{'D', 0, 0, 0, 1, 'x'})
	f.Add([]byte{'R', 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for range 64 {
			k, p, err := ReadFrame(r)
			if err != nil {
				return
			}
			if len(p) > MaxFrame {
				t.Fatalf("payload of %d bytes", len(p))
			}
			switch k {
			case KindRequest:
				var v Request
				if Decode(p, &v) == nil && v.Validate() != nil {
					t.Fatal("decoded request does not validate")
				}
			case KindHead:
				var v Head
				Decode(p, &v)
			case KindAdvert:
				var v Advert
				Decode(p, &v)
			}
		}
	})
}
