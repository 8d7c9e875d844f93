package sha256x

import "crypto/sha256"

// iv is SHA-256's initial hash state.
var iv = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

// Sum2 returns the SHA-256 digests of a and of b, hashed together. a and b
// may be the same slice or overlap.
func Sum2(a, b []byte) (sa, sb [32]byte) {
	if !hasSHA {
		return sha256.Sum256(a), sha256.Sum256(b)
	}
	da, db := Digest{h: iv}, Digest{h: iv}
	ma, mb := len(a)&^63, len(b)&^63
	pairChunks(&da.h, a[:ma], &db.h, b[:mb])
	da.len, db.len = uint64(ma), uint64(mb)
	da.write(a[ma:], nil)
	db.write(b[mb:], nil)
	return da.sum(), db.sum()
}

// MultihashDigest returns the digest a sha2-256 multihash carries (code
// 0x12, length 32: Cairn's CIDs), and false for any other multihash.
func MultihashDigest(mh []byte) ([]byte, bool) {
	if len(mh) != 2+sha256.Size || mh[0] != 0x12 || mh[1] != sha256.Size {
		return nil, false
	}
	return mh[2:], true
}

// Check2 reports whether a hashes to the digest da and b to db, the two
// hashed together (Sum2).
func Check2(a, da, b, db []byte) (okA, okB bool) {
	sa, sb := Sum2(a, b)
	return string(sa[:]) == string(da), string(sb[:]) == string(db)
}
