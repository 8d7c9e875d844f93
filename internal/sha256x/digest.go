package sha256x

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"hash"
)

// Digest is a SHA-256 hash.Hash whose bulk a Pairer can hash together
// with another caller's (Pairer.Write); its own Write hashes alone.
type Digest struct {
	h   [8]uint32
	x   [64]byte // the partial chunk
	nx  int
	len uint64
	std hash.Hash // without the SHA extensions, crypto/sha256 does the work
}

// New returns a Digest in SHA-256's initial state.
func New() *Digest {
	d := &Digest{}
	d.Reset()
	return d
}

// Reset puts d back in the initial state.
func (d *Digest) Reset() {
	if !hasSHA {
		d.std = sha256.New()
		return
	}
	d.h, d.nx, d.len = iv, 0, 0
}

// Size is 32.
func (d *Digest) Size() int { return sha256.Size }

// BlockSize is SHA-256's chunk, 64.
func (d *Digest) BlockSize() int { return sha256.BlockSize }

// Write adds p to the hash; it never fails.
func (d *Digest) Write(p []byte) (int, error) {
	d.write(p, nil)
	return len(p), nil
}

// write adds p, its whole chunks through pr when pr is not nil.
func (d *Digest) write(p []byte, pr *Pairer) {
	if d.std != nil {
		d.std.Write(p)
		return
	}
	d.len += uint64(len(p))
	if d.nx > 0 {
		c := copy(d.x[d.nx:], p)
		d.nx += c
		p = p[c:]
		if d.nx < len(d.x) {
			return
		}
		compress(&d.h, d.x[:])
		d.nx = 0
	}
	if m := len(p) &^ 63; m > 0 {
		if pr != nil {
			pr.run(&d.h, p[:m])
		} else {
			compress(&d.h, p[:m])
		}
		p = p[m:]
	}
	d.nx = copy(d.x[:], p)
}

// Sum appends the digest of what was written to b; d is unchanged.
func (d *Digest) Sum(b []byte) []byte {
	if d.std != nil {
		return d.std.Sum(b)
	}
	s := d.sum()
	return append(b, s[:]...)
}

func (d *Digest) sum() [32]byte {
	c := *d
	n := c.len
	var pad [64 + 8]byte
	pad[0] = 0x80
	// 0x80, zeros up to 56 mod 64, then the length in bits.
	c.write(pad[:1+(55-n%64+64)%64], nil)
	binary.BigEndian.PutUint64(pad[:8], n<<3)
	c.write(pad[:8], nil)
	var s [32]byte
	for i, w := range c.h {
		binary.BigEndian.PutUint32(s[4*i:], w)
	}
	return s
}

// compress runs the compression function over p's whole chunks into h,
// one lane: the two-lane kernel with a scratch second lane over the same
// bytes costs about what one lane alone would (the rounds' latency is the
// limit, not the instructions).
func compress(h *[8]uint32, p []byte) {
	n := len(p) / 64
	if n == 0 {
		return
	}
	var hh [16]uint32
	copy(hh[:8], h[:])
	blocks2(&hh, &p[0], &p[0], n)
	copy(h[:], hh[:8])
}

// pairChunks runs the compression function over pa into ha and pb into
// hb (whole chunks each): together over their common length, the longer
// one's rest alone.
func pairChunks(ha *[8]uint32, pa []byte, hb *[8]uint32, pb []byte) {
	n := min(len(pa), len(pb)) / 64
	if n > 0 {
		var hh [16]uint32
		copy(hh[:8], ha[:])
		copy(hh[8:], hb[:])
		blocks2(&hh, &pa[0], &pb[0], n)
		copy(ha[:], hh[:8])
		copy(hb[:], hh[8:])
	}
	compress(ha, pa[n*64:])
	compress(hb, pb[n*64:])
}

// SumWrite returns the SHA-256 digest of p and a copy of d advanced by p,
// both from one pass over p (two lanes: p from the initial state, and d's
// continuation). d is unchanged. A fetch verifying a block against its CID
// so also hashes the file the block belongs to, at no extra pass.
func SumWrite(d *Digest, p []byte) (sum [32]byte, next *Digest) {
	next = d.clone()
	if next.std != nil {
		next.std.Write(p)
		return sha256.Sum256(p), next
	}
	k := 0
	if next.nx > 0 {
		// next's partial chunk first, so that both lanes run whole chunks.
		k = min(len(next.x)-next.nx, len(p))
		next.write(p[:k], nil)
	}
	blk := Digest{h: iv}
	ma, mb := len(p)&^63, (len(p)-k)&^63
	pairChunks(&blk.h, p[:ma], &next.h, p[k:k+mb])
	blk.len = uint64(ma)
	next.len += uint64(mb)
	blk.write(p[ma:], nil)
	next.write(p[k+mb:], nil)
	return blk.sum(), next
}

// clone returns a copy of d that shares nothing with it.
func (d *Digest) clone() *Digest {
	c := *d
	if d.std != nil {
		state, err := d.std.(encoding.BinaryMarshaler).MarshalBinary()
		if err == nil {
			c.std = sha256.New()
			err = c.std.(encoding.BinaryUnmarshaler).UnmarshalBinary(state)
		}
		if err != nil {
			panic("sha256x: crypto/sha256 cannot copy its state: " + err.Error())
		}
	}
	return &c
}
