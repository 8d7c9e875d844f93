package progress

import (
	"bytes"
	"strings"
	"testing"
)

func TestBytes(t *testing.T) {
	tests := map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 1 << 30: "1.0 GiB"}
	for in, want := range tests {
		if got := Bytes(in); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestPlainLines(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "add")
	b.Update(0, 100)  // within the first interval: dropped
	b.Update(50, 100) // likewise
	b.Update(100, 100)
	b.Done()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("lines = %q, want only the final line", lines)
	}
	if !strings.Contains(lines[0], "(100%)") {
		t.Errorf("last line = %q, want 100%%", lines[0])
	}
}
