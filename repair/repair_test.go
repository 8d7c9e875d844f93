package repair

import (
	"testing"

	"github.com/cairnhub/cairn/sovereignty"
)

// TestConfigValidate: a worker needs a store and an audit log, and a
// finder only with a fetcher (repairing needs both).
func TestConfigValidate(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("a config without a store was accepted")
	}
	if err := (Config{ScrubRate: -1}).Validate(); err == nil {
		t.Fatal("a negative scrub rate was accepted")
	}
	var a *sovereignty.Audit
	if err := (Config{Store: nil, Audit: a}).Validate(); err == nil {
		t.Fatal("a nil store was accepted")
	}
}
