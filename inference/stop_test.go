package inference

import (
	"strings"
	"testing"
)

func TestStopWriter(t *testing.T) {
	tests := []struct {
		name    string
		stops   []string
		pieces  []string
		text    string
		stopped bool
	}{
		{"no stops", nil, []string{"ab", "c"}, "abc", false},
		{"empty stop ignored", []string{""}, []string{"ab"}, "ab", false},
		{"whole piece", []string{"END"}, []string{"foo", "END", "bar"}, "foo", true},
		{"inside piece", []string{"END"}, []string{"fooENDbar"}, "foo", true},
		{"split over pieces", []string{"END"}, []string{"foo E", "N", "Dx"}, "foo ", true},
		{"false start then real", []string{"abc"}, []string{"ab", "ab", "c"}, "ab", true},
		{"prefix never completed", []string{"abc"}, []string{"xa", "b", "d"}, "xabd", false},
		{"held back to the end", []string{"abc"}, []string{"xab"}, "xab", false},
		{"earliest of two", []string{"cd", "b"}, []string{"abcd"}, "a", true},
		{"at the start", []string{"\n"}, []string{"\nhello"}, "", true},
		{"overlapping prefixes", []string{"aab"}, []string{"a", "a", "a", "b"}, "a", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var emitted strings.Builder
			w := stopWriter{stops: tc.stops, emit: func(s string) error {
				emitted.WriteString(s)
				for _, stop := range tc.stops {
					if stop != "" && strings.Contains(emitted.String(), stop) {
						t.Errorf("emitted %q contains stop %q", emitted.String(), stop)
					}
				}
				return nil
			}}
			stopped := false
			for _, p := range tc.pieces {
				var err error
				if stopped, err = w.write(p); err != nil {
					t.Fatal(err)
				}
				if stopped {
					break
				}
			}
			if !stopped {
				if err := w.flush(); err != nil {
					t.Fatal(err)
				}
			}
			got := w.text.String()
			if w.stopped {
				got = got[:w.cut]
			}
			if got != tc.text || stopped != tc.stopped || emitted.String() != tc.text {
				t.Errorf("text %q (emitted %q), stopped %v; want %q, %v", got, emitted.String(), stopped, tc.text, tc.stopped)
			}
		})
	}
}
