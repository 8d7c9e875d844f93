package infer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Frame kinds.
const (
	KindQuery   byte = 'Q' // ask for the advert; empty payload
	KindAdvert  byte = 'A' // Advert as JSON
	KindRequest byte = 'R' // Request as JSON
	KindHead    byte = 'H' // Head as JSON
	KindData    byte = 'D' // response body bytes
	KindEnd     byte = 'E' // the response is complete; empty payload
)

// Limits on what a peer may send.
const (
	// MaxBody bounds a request body, as the OpenAI server does.
	MaxBody = 16 << 20
	// MaxFrame bounds any frame's payload: a request frame holds the body
	// plus a little JSON around it (a body's bytes may double when JSON
	// escapes them, so bodies are carried as raw JSON, never as a string).
	MaxFrame = MaxBody + 4096
	// MaxModels bounds the models of an advert.
	MaxModels = 4096
	// MaxIDLen bounds a model id or path.
	MaxIDLen = 1024
)

// ErrFrame is wrapped by errors about malformed frames.
var ErrFrame = errors.New("malformed infer frame")

func known(kind byte) bool {
	switch kind {
	case KindQuery, KindAdvert, KindRequest, KindHead, KindData, KindEnd:
		return true
	}
	return false
}

// WriteFrame writes one frame in a single Write call.
func WriteFrame(w io.Writer, kind byte, payload []byte) error {
	if !known(kind) {
		return fmt.Errorf("%w: unknown kind %q", ErrFrame, kind)
	}
	if len(payload) > MaxFrame {
		return fmt.Errorf("%w: payload of %d bytes, at most %d", ErrFrame, len(payload), MaxFrame)
	}
	buf := make([]byte, 5+len(payload))
	buf[0] = kind
	binary.BigEndian.PutUint32(buf[1:5], uint32(len(payload)))
	copy(buf[5:], payload)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame. A clean end of r before the frame's first
// byte is io.EOF; a frame cut short is io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader) (kind byte, payload []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:1]); err != nil {
		return 0, nil, err
	}
	if _, err := io.ReadFull(r, hdr[1:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	kind = hdr[0]
	if !known(kind) {
		return 0, nil, fmt.Errorf("%w: unknown kind %q", ErrFrame, kind)
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxFrame {
		return 0, nil, fmt.Errorf("%w: payload of %d bytes, at most %d", ErrFrame, n, MaxFrame)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return kind, payload, nil
}

// Paths a request may name.
const (
	PathCompletions = "/v1/completions"
	PathChat        = "/v1/chat/completions"
	PathEmbeddings  = "/v1/embeddings"
)

// Request is an OpenAI request handed to another node.
type Request struct {
	Path  string          `json:"path"`
	Model string          `json:"model"`
	Body  json.RawMessage `json:"body"`
}

// Validate checks what the serving node relies on.
func (r *Request) Validate() error {
	if r.Path != PathCompletions && r.Path != PathChat && r.Path != PathEmbeddings {
		return fmt.Errorf("%w: request path %q", ErrFrame, r.Path)
	}
	if r.Model == "" || len(r.Model) > MaxIDLen {
		return fmt.Errorf("%w: request model of %d bytes", ErrFrame, len(r.Model))
	}
	if len(r.Body) == 0 || len(r.Body) > MaxBody || !json.Valid(r.Body) {
		return fmt.Errorf("%w: request body is not a JSON document of at most %d bytes", ErrFrame, MaxBody)
	}
	return nil
}

// Head is the start of a response.
type Head struct {
	Status      int    `json:"status"`
	ContentType string `json:"content_type,omitempty"`
	RetryAfter  string `json:"retry_after,omitempty"`
}

// Validate checks the status and header values.
func (h *Head) Validate() error {
	if h.Status < 100 || h.Status > 599 {
		return fmt.Errorf("%w: status %d", ErrFrame, h.Status)
	}
	if len(h.ContentType) > 256 || len(h.RetryAfter) > 32 || strings.ContainsAny(h.ContentType+h.RetryAfter, "\r\n\x00") {
		return fmt.Errorf("%w: bad header value", ErrFrame)
	}
	return nil
}

// Advert says what a node serves.
type Advert struct {
	// Serving is false when the node's local inference is off: it holds
	// models but answers none.
	Serving bool `json:"serving"`
	// Models are the GGUF models it holds or has loaded.
	Models []ModelAd `json:"models"`
	// Load is generations running plus waiting, over all models (they
	// share the node's cores).
	Load int `json:"load"`
}

// ModelAd is one model of an advert.
type ModelAd struct {
	Repo string `json:"repo"`
	// Rev is the revision name it is held under ("main", a tag, a commit).
	Rev string `json:"rev"`
	// Files are its GGUF files; an id naming one of them, or naming none
	// when there is one, matches.
	Files []string `json:"files,omitempty"`
	// Loaded is true while the model is in memory.
	Loaded bool `json:"loaded,omitempty"`
	// Waiting counts requests queued for it.
	Waiting int `json:"waiting,omitempty"`
}

// Validate bounds an advert from a peer.
func (a *Advert) Validate() error {
	if len(a.Models) > MaxModels {
		return fmt.Errorf("%w: %d models, at most %d", ErrFrame, len(a.Models), MaxModels)
	}
	if a.Load < 0 {
		return fmt.Errorf("%w: negative load", ErrFrame)
	}
	for i, m := range a.Models {
		if m.Repo == "" || len(m.Repo) > MaxIDLen || len(m.Rev) > MaxIDLen || m.Waiting < 0 || len(m.Files) > MaxModels {
			return fmt.Errorf("%w: model %d", ErrFrame, i)
		}
		for _, f := range m.Files {
			if len(f) > MaxIDLen {
				return fmt.Errorf("%w: model %d file name too long", ErrFrame, i)
			}
		}
	}
	return nil
}

// Decode parses a frame's JSON payload into v (a *Request, *Head or
// *Advert) and validates it.
func Decode(payload []byte, v interface{ Validate() error }) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrFrame, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: data after the JSON object", ErrFrame)
	}
	return v.Validate()
}

// WriteJSON writes v as one frame of kind.
func WriteJSON(w io.Writer, kind byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return WriteFrame(w, kind, b)
}
