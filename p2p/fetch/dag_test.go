package fetch

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// TestVerifyPair checks that a pair of blocks verified together blames
// exactly the bad one, in either position, and that missing frames and
// non-sha2-256 CIDs take the single path.
func TestVerifyPair(t *testing.T) {
	good := func(s string) Frame {
		data := bytes.Repeat([]byte(s), 5000)
		return Frame{Type: FrameBlock, CID: fuzzCID(string(data)), Data: data}
	}
	bad := good("b")
	bad.Data = append([]byte(nil), bad.Data...)
	bad.Data[4321] ^= 1
	blake := func() Frame {
		data := []byte("blake block")
		h, _ := mh.Sum(data, mh.BLAKE2B_MIN+31, -1)
		return Frame{Type: FrameBlock, CID: cid.NewCidV1(cid.Raw, h), Data: data}
	}()
	missing := Frame{Type: FrameMissing, CID: fuzzCID("gone")}
	for _, tc := range []struct {
		name       string
		a, b       Frame
		badA, badB bool
	}{
		{"both good", good("a"), good("c"), false, false},
		{"first bad", bad, good("c"), true, false},
		{"second bad", good("a"), bad, false, true},
		{"both bad", bad, bad, true, true},
		{"missing and bad", missing, bad, false, true},
		{"other hash and bad", blake, bad, false, true},
	} {
		ea, eb := verifyPair(tc.a, tc.b)
		if (ea != nil) != tc.badA || (eb != nil) != tc.badB {
			t.Errorf("%s: errors %v, %v", tc.name, ea, eb)
		}
		for _, e := range []error{ea, eb} {
			if e != nil && !errors.Is(e, errHashMismatch) {
				t.Errorf("%s: %v is not errHashMismatch", tc.name, e)
			}
		}
	}
}

// TestAheadFor: one to four streams read eight blocks ahead each; more
// share 32 blocks, two at least each.
func TestAheadFor(t *testing.T) {
	for n, want := range map[int]int{0: 8, 1: 8, 4: 8, 5: 6, 8: 4, 16: 2, 64: 2} {
		if got := aheadFor(n); got != want {
			t.Errorf("aheadFor(%d) = %d, want %d", n, got, want)
		}
	}
}
