package progress

import "testing"

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "4096": 4096, "100MB": 100e6, "16MiB": 16 << 20, "1.5GiB": 3 << 29,
		"2 kb": 2000, "512KiB": 512 << 10, "1TB": 1e12, "7b": 7, "16mib": 16 << 20,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1MiB", "16M", "1..2MB", "10 parsecs", "1e3", "99999999999TiB"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
	for in, want := range map[string]int64{"16MiB/s": 16 << 20, "0": 0, "100MB": 100e6} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"16MiB/s", "0", "100MB", "1.5 GiB", "-3", "1e400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseRate(s)
		if err == nil && (n < 0 || n > 1<<62) {
			t.Fatalf("ParseRate(%q) = %d", s, n)
		}
	})
}
