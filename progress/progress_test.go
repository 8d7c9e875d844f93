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
	b.Update(0, 100)
	b.Update(50, 100) // within the interval: dropped
	b.Update(100, 100)
	b.Done()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines = %q, want 2 lines", lines)
	}
	if !strings.Contains(lines[1], "(100%)") {
		t.Errorf("last line = %q, want 100%%", lines[1])
	}
}
