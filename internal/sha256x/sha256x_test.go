package sha256x

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// TestSum2 checks Sum2 against crypto/sha256 on lengths around every
// chunk and padding boundary, lanes of equal and of different lengths,
// and one slice in both lanes.
func TestSum2(t *testing.T) {
	if !hasSHA {
		t.Log("no SHA extensions: Sum2 is two crypto/sha256 sums")
	}
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	lens := []int{0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 640, 1000, 4096}
	for _, la := range lens {
		for _, lb := range lens {
			a, b := buf[:la], buf[4096-lb:]
			sa, sb := Sum2(a, b)
			if sa != sha256.Sum256(a) || sb != sha256.Sum256(b) {
				t.Fatalf("Sum2 of %d and %d bytes differs from crypto/sha256", la, lb)
			}
		}
		sa, sb := Sum2(buf[:la], buf[:la])
		if want := sha256.Sum256(buf[:la]); sa != want || sb != want {
			t.Fatalf("Sum2 of one slice of %d bytes twice differs from crypto/sha256", la)
		}
	}
}

// TestSum2Large runs the kernel over many chunks (a block's size) and
// flips one bit of one lane: only that lane's digest may change.
func TestSum2Large(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	a, b := make([]byte, 1<<20), make([]byte, 1<<20+17)
	for i := range a {
		a[i] = byte(r.Uint32())
	}
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	sa, sb := Sum2(a, b)
	if sa != sha256.Sum256(a) || sb != sha256.Sum256(b) {
		t.Fatal("Sum2 of 1 MiB lanes differs from crypto/sha256")
	}
	b[777777] ^= 4
	sa2, sb2 := Sum2(a, b)
	if sa2 != sa || sb2 == sb || sb2 != sha256.Sum256(b) {
		t.Fatal("a bit flipped in lane b: lane a changed or lane b did not change as crypto/sha256 does")
	}
}

// TestDigest writes random messages to a Digest in random pieces, alone
// and through a Pairer shared by goroutines, and checks every digest and
// the hash.Hash methods against crypto/sha256.
func TestDigest(t *testing.T) {
	var pr Pairer
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range 20 {
				msg := make([]byte, r.IntN(300<<10))
				for i := range msg {
					msg[i] = byte(r.Uint32())
				}
				d := New()
				for p := msg; len(p) > 0; {
					n := min(len(p), 1+r.IntN(100<<10))
					if g%2 == 0 {
						pr.Write(d, p[:n])
					} else {
						d.Write(p[:n])
					}
					p = p[n:]
				}
				want := sha256.Sum256(msg)
				if got := d.Sum([]byte("x")); string(got[1:]) != string(want[:]) || got[0] != 'x' {
					errs <- fmt.Errorf("goroutine %d: digest of %d bytes differs from crypto/sha256", g, len(msg))
					return
				}
				if got := d.Sum(nil); string(got) != string(want[:]) {
					errs <- fmt.Errorf("goroutine %d: Sum changed the state", g)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	d := New()
	d.Write([]byte("abc"))
	d.Reset()
	if got, want := d.Sum(nil), sha256.Sum256(nil); string(got) != string(want[:]) || d.Size() != 32 || d.BlockSize() != 64 {
		t.Fatal("Reset, Size or BlockSize differ from crypto/sha256")
	}
}

func FuzzSum2(f *testing.F) {
	f.Add([]byte("abc"), []byte(""))
	f.Add(make([]byte, 64), make([]byte, 200))
	f.Add(make([]byte, 300), make([]byte, 129))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		sa, sb := Sum2(a, b)
		if sa != sha256.Sum256(a) || sb != sha256.Sum256(b) {
			t.Fatalf("Sum2 of %d and %d bytes differs from crypto/sha256", len(a), len(b))
		}
	})
}

// BenchmarkSum2 hashes two 1 MiB blocks with Sum2 and, as the reference
// in the same run, with two crypto/sha256 sums; bytes are both lanes'.
func BenchmarkSum2(b *testing.B) {
	x, y := make([]byte, 1<<20), make([]byte, 1<<20)
	for i := range x {
		x[i], y[i] = byte(i), byte(i*7)
	}
	b.Run("Sum2", func(b *testing.B) {
		b.SetBytes(2 << 20)
		for b.Loop() {
			Sum2(x, y)
		}
	})
	b.Run("crypto-sha256x2", func(b *testing.B) {
		b.SetBytes(2 << 20)
		for b.Loop() {
			sha256.Sum256(x)
			sha256.Sum256(y)
		}
	})
}

// TestPairer hashes blocks from many goroutines at once through one
// Pairer: every digest must be its own block's, paired or not.
func TestPairer(t *testing.T) {
	var p Pairer
	r := rand.New(rand.NewPCG(5, 6))
	blocks := make([][]byte, 64)
	for i := range blocks {
		blocks[i] = make([]byte, minPair+r.IntN(200<<10))
		for j := range blocks[i] {
			blocks[i][j] = byte(r.Uint32())
		}
	}
	blocks = append(blocks, []byte("small"), nil)
	errs := make(chan error, len(blocks))
	for i := range blocks {
		go func() {
			if got := p.Sum(blocks[i]); got != sha256.Sum256(blocks[i]) {
				errs <- fmt.Errorf("block %d (%d bytes): wrong digest", i, len(blocks[i]))
				return
			}
			errs <- nil
		}()
	}
	for range blocks {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if p.waiting != nil {
		t.Fatal("a request was left waiting")
	}
}

// TestSumWrite feeds a message block by block (sizes not multiples of 64,
// so the file lane starts mid-chunk) through SumWrite: every block digest
// and the final file digest must be crypto/sha256's, and the Digest given
// must stay as it was.
func TestSumWrite(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	msg := make([]byte, 3<<20)
	for i := range msg {
		msg[i] = byte(r.Uint32())
	}
	d := New()
	for p := msg; len(p) > 0; {
		n := min(len(p), []int{1, 63, 64, 65, 1000, 300 << 10}[r.IntN(6)]+r.IntN(3))
		before := d.Sum(nil)
		sum, next := SumWrite(d, p[:n])
		if sum != sha256.Sum256(p[:n]) {
			t.Fatalf("block of %d bytes: digest differs from crypto/sha256", n)
		}
		if string(d.Sum(nil)) != string(before) {
			t.Fatal("SumWrite changed the Digest it was given")
		}
		d = next
		p = p[n:]
	}
	if want := sha256.Sum256(msg); string(d.Sum(nil)) != string(want[:]) {
		t.Fatal("file digest through SumWrite differs from crypto/sha256")
	}
}

// TestPairerPairs: two goroutines hashing blocks at once end up hashing
// them in pairs.
func TestPairerPairs(t *testing.T) {
	if !hasSHA {
		t.Skip("no SHA extensions: the Pairer hashes alone")
	}
	var pr Pairer
	block := make([]byte, 256<<10)
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			for range 40 {
				if pr.Sum(block[g:]) != sha256.Sum256(block[g:]) {
					t.Error("wrong digest")
					return
				}
			}
		})
	}
	wg.Wait()
	if pr.paired == 0 {
		t.Fatal("80 blocks hashed by two goroutines at once, none in a pair")
	}
	t.Logf("%d pairs of 80 blocks", pr.paired)
}

// TestMultihashDigest: only a sha2-256 multihash of 32 bytes yields its
// digest; Check2 tells which of two messages matches.
func TestMultihashDigest(t *testing.T) {
	sum := sha256.Sum256([]byte("block"))
	mh := append([]byte{0x12, 32}, sum[:]...)
	if d, ok := MultihashDigest(mh); !ok || string(d) != string(sum[:]) {
		t.Fatal("sha2-256 multihash not taken")
	}
	for _, bad := range [][]byte{
		append([]byte{0x13, 32}, sum[:]...), // sha2-512 code
		append([]byte{0x12, 31}, sum[:31]...),
		mh[:33], nil,
	} {
		if _, ok := MultihashDigest(bad); ok {
			t.Fatalf("multihash % x taken as sha2-256", bad[:min(len(bad), 2)])
		}
	}
	okA, okB := Check2([]byte("block"), sum[:], []byte("blocK"), sum[:])
	if !okA || okB {
		t.Fatalf("Check2 = %v, %v; want true, false", okA, okB)
	}
}
