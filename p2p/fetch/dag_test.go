package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
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

// TestDrain: after the stream took some blocks, drain waits for the rest
// and frees each.
func TestDrain(t *testing.T) {
	in := make(chan chan loaded, 8)
	freed := 0
	for i := range 4 {
		lc := make(chan loaded, 1)
		lc <- loaded{c: fuzzCID(fmt.Sprint(i)), data: []byte{byte(i)}, release: func() { freed++ }}
		in <- lc
	}
	close(in)
	for i := range 2 {
		if l := <-<-in; l.data[0] != byte(i) {
			t.Fatalf("block %d = %v", i, l.data)
		}
	}
	drain(in)
	if freed != 2 {
		t.Fatalf("drain freed %d blocks, want 2 (2 and 3)", freed)
	}
	if _, ok := <-in; ok {
		t.Fatal("a block left after drain")
	}
}

// corruptSource records the blocks a server reports corrupt.
type corruptSource struct {
	Source
	mu  sync.Mutex
	bad []cid.Cid
}

func (s *corruptSource) ReadOnceUnchecked(context.Context, cid.Cid) ([]byte, func(), bool, error) {
	return nil, nil, false, errors.New("not read here")
}

func (s *corruptSource) Corrupt(c cid.Cid) {
	s.mu.Lock()
	s.bad = append(s.bad, c)
	s.mu.Unlock()
}

// TestCheckPairs: blocks read at once are checked in pairs, a block
// with no partner after pairWaitFor and the last one alone; in every
// case a good block keeps its bytes and a rotten one loses them and is
// reported to the store, whatever its partner.
func TestCheckPairs(t *testing.T) {
	src := &corruptSource{}
	ss := &serverStream{s: &Server{src: src}}
	block := func(i int, rotten bool) *loaded {
		data := bytes.Repeat([]byte{byte(i)}, 100_000+i)
		l := &loaded{c: fuzzCID(string(data)), data: data, unchecked: true}
		if rotten {
			l.data = append([]byte{}, data...)
			l.data[i] ^= 1
		}
		return l
	}
	cases := []struct {
		name   string
		rotten []bool
		last   int // index of the block read last of the stream, -1: none
	}{
		{"pair, both good", []bool{false, false}, -1},
		{"pair, first rotten", []bool{true, false}, -1},
		{"pair, second rotten", []bool{false, true}, -1},
		{"alone, good", []bool{false}, -1},
		{"alone, rotten", []bool{true}, -1},
		{"last, rotten", []bool{true}, 0},
		{"four at once", []bool{false, true, false, false}, 3},
	}
	for _, tc := range cases {
		src.bad = nil
		ls := make([]*loaded, len(tc.rotten))
		cp := &checkPairs{ss: ss}
		var wg sync.WaitGroup
		for i, rotten := range tc.rotten {
			ls[i] = block(i, rotten)
			wg.Go(func() { cp.check(context.Background(), ls[i], i == tc.last) })
		}
		wg.Wait()
		var wantBad []cid.Cid
		for i, rotten := range tc.rotten {
			l := ls[i]
			if l.unchecked {
				t.Errorf("%s: block %d left unchecked", tc.name, i)
			}
			if rotten {
				wantBad = append(wantBad, l.c)
				if l.data != nil {
					t.Errorf("%s: rotten block %d kept its bytes", tc.name, i)
				}
			} else if l.data == nil {
				t.Errorf("%s: good block %d lost its bytes", tc.name, i)
			}
		}
		if len(src.bad) != len(wantBad) || (len(wantBad) == 1 && src.bad[0] != wantBad[0]) {
			t.Errorf("%s: reported %v, want %v", tc.name, src.bad, wantBad)
		}
		if cp.wait != nil {
			t.Errorf("%s: a block still waits for a partner", tc.name)
		}
	}
}
