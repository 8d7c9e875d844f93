package store

import (
	"bytes"
	"testing"

	"github.com/cairnhub/cairn/manifest"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// FuzzKeys feeds arbitrary bytes to the key parsers (they must not panic,
// whatever a damaged store holds) and checks that keys built from parts
// the parsers accept split back into the same parts.
func FuzzKeys(f *testing.F) {
	mh, _ := multihash.Sum([]byte("x"), multihash.SHA2_256, -1)
	f.Add(indexKey(mh, manifest.Model, "acme/tiny", "0123456789abcdef0123456789abcdef01234567"))
	f.Add(pinKey(cid.NewCidV1(cid.Raw, mh), "keep"))
	f.Add(refKey(manifest.Dataset, "a/b", "main"))
	f.Add([]byte{pfxIndex, 0x12, 0x20})
	f.Add([]byte{pfxPin, 0x01, 0x55, 0x12, 0xff})
	f.Fuzz(func(t *testing.T, k []byte) {
		if len(k) == 0 {
			return
		}
		if mh, kind, repo, commit, err := splitIndexKey(k); err == nil && k[0] == pfxIndex {
			if again := indexKey(mh, kind, repo, commit); !bytes.Equal(again, k) {
				t.Errorf("indexKey(splitIndexKey(%x)) = %x", k, again)
			}
		}
		if c, name, err := splitPinKey(k); err == nil && k[0] == pfxPin && c.Version() == 1 {
			if again := pinKey(c, name); !bytes.Equal(again, k) {
				t.Errorf("pinKey(splitPinKey(%x)) = %x", k, again)
			}
		}
		if kind, repo, rev, err := splitKRN(k[1:]); err == nil && !bytes.ContainsRune([]byte(rev), 0) {
			if again := refKey(kind, repo, rev); !bytes.Equal(again[1:], k[1:]) {
				t.Errorf("refKey(splitKRN(%x)) = %x", k, again)
			}
		}
	})
}
