package ollama

import (
	"net/http"
	"testing"
	"time"
)

// FuzzSSEReader feeds the reader of the router's OpenAI stream (which may
// carry a member's forwarded answer) arbitrary bytes in two writes: it
// must neither panic nor emit text it did not parse from an event.
func FuzzSSEReader(f *testing.F) {
	f.Add([]byte("data: {\"choices\":[{\"text\":\"Once\",\"finish_reason\":null}]}\n\n"), []byte("data: {\"choices\":[{\"text\":\"\",\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n"), true)
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n"), []byte("\ndata: {\"error\":{\"message\":\"gone\"}}\n\n"), true)
	f.Add([]byte(`{"error":{"message":"no","code":"model_not_found"}}`), []byte{}, false)
	f.Add([]byte("data: {bad json\n\n"), []byte("data: [DONE]\n\n"), true)
	f.Fuzz(func(t *testing.T, a, b []byte, stream bool) {
		var emitted int
		r := &sseReader{hdr: http.Header{}, start: time.Now(), emit: func(s string) error { emitted += len(s); return nil }}
		if stream {
			r.hdr.Set("Content-Type", "text/event-stream")
		}
		for _, p := range [][]byte{a, b} {
			if _, err := r.Write(p); err != nil {
				break
			}
		}
		res, _ := r.result()
		if emitted != len(res.Text) {
			t.Fatalf("emitted %d bytes, result text %d", emitted, len(res.Text))
		}
		if emitted > len(a)+len(b) {
			t.Fatalf("emitted %d bytes from %d", emitted, len(a)+len(b))
		}
	})
}
