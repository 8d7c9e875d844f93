package fetch

import (
	"bytes"
	"errors"
	"fmt"
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

// TestLoadQueue: next hands out the blocks in order whether or not peek
// took the next one early (ready or still being read), peek never waits,
// and drain frees every block still queued.
func TestLoadQueue(t *testing.T) {
	in := make(chan chan loaded, 8)
	freed := 0
	chans := make([]chan loaded, 5)
	for i := range chans {
		chans[i] = make(chan loaded, 1)
		in <- chans[i]
	}
	close(in)
	block := func(i int) loaded {
		return loaded{c: fuzzCID(fmt.Sprint(i)), data: []byte{byte(i)}, release: func() { freed++ }}
	}
	chans[0] <- block(0)
	q := &loadQueue{in: in}
	if n, ok := q.peek(); !ok || n.data[0] != 0 { // before any next: the first block
		t.Fatal("peek before next missed block 0")
	}
	l, ok := q.next()
	if !ok || l.data[0] != 0 {
		t.Fatalf("next = %v, %v; want block 0", l.data, ok)
	}
	if _, ok := q.peek(); ok { // block 1 not read yet: taken, not waited for
		t.Fatal("peek returned a block still being read")
	}
	chans[1] <- block(1)
	if n, ok := q.peek(); !ok || n.data[0] != 1 {
		t.Fatal("peek missed block 1 once read")
	}
	if l, ok := q.next(); !ok || l.data[0] != 1 {
		t.Fatalf("next after peek = %v, %v; want block 1", l.data, ok)
	}
	chans[2] <- block(2)
	chans[3] <- block(3)
	chans[4] <- block(4)
	if l, ok := q.next(); !ok || l.data[0] != 2 {
		t.Fatalf("next = %v, %v; want block 2", l.data, ok)
	}
	q.peek() // block 3 taken early
	q.drain()
	if freed != 2 {
		t.Fatalf("drain freed %d blocks, want 2 (3 and 4)", freed)
	}
	if _, ok := q.next(); ok {
		t.Fatal("next after the last block = true")
	}
}
