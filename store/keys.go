package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/cairnhub/cairn/manifest"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// Key prefixes; see doc.go for the layout. One byte each so that block keys
// stay short (a sha2-256 block key is 35 bytes).
const (
	pfxVersion  = 0x00
	pfxBlock    = 'b'
	pfxManifest = 'm'
	pfxRef      = 'r'
	pfxPin      = 'p'
	pfxIndex    = 'i'
	pfxBad      = 'x'
)

// formatVersion is the key layout written by this package, kept under
// versionKey so a later layout can migrate or refuse an old store.
const formatVersion = 2

var versionKey = []byte{pfxVersion, 'v', 'e', 'r', 's', 'i', 'o', 'n'}

// revisionPinPrefix marks the pins Commit makes on a revision's root. Pin
// refuses names with it so that a user pin never masquerades as a revision.
const revisionPinPrefix = "rev:"

func badKey(mh multihash.Multihash) []byte {
	k := make([]byte, 1+len(mh))
	k[0] = pfxBad
	copy(k[1:], mh)
	return k
}

func blockKey(mh multihash.Multihash) []byte {
	k := make([]byte, 1+len(mh))
	k[0] = pfxBlock
	copy(k[1:], mh)
	return k
}

// kindRepo is the (kind, repo) part shared by manifest, ref and index keys.
// Kinds and repos never hold NUL (manifest.ValidateRepo), so NUL separates.
func kindRepo(pfx byte, kind manifest.Kind, repo string) []byte {
	k := make([]byte, 0, 2+len(kind)+len(repo)+48)
	k = append(k, pfx)
	k = append(k, kind...)
	k = append(k, 0)
	k = append(k, repo...)
	k = append(k, 0)
	return k
}

func manifestKey(kind manifest.Kind, repo, commit string) []byte {
	return append(kindRepo(pfxManifest, kind, repo), commit...)
}

func refKey(kind manifest.Kind, repo, revision string) []byte {
	return append(kindRepo(pfxRef, kind, repo), revision...)
}

// refPrefix lists the refs of one repo, of one kind (repo ""), or all (kind "").
func refPrefix(kind manifest.Kind, repo string) []byte {
	switch {
	case kind == "":
		return []byte{pfxRef}
	case repo == "":
		return append(append([]byte{pfxRef}, kind...), 0)
	}
	return kindRepo(pfxRef, kind, repo)
}

// splitKRN splits "kind\x00repo\x00name" (a key without its prefix byte).
func splitKRN(rest []byte) (kind manifest.Kind, repo, name string, err error) {
	parts := bytes.SplitN(rest, []byte{0}, 3)
	if len(parts) != 3 {
		return "", "", "", fmt.Errorf("malformed key %q", rest)
	}
	return manifest.Kind(parts[0]), string(parts[1]), string(parts[2]), nil
}

// indexKey is block mh → (kind, repo, commit). A multihash is self-delimiting
// (code and length come first), so no two distinct ones are prefixes of each
// other and indexPrefix(mh) finds exactly this block's entries.
func indexKey(mh multihash.Multihash, kind manifest.Kind, repo, commit string) []byte {
	k := make([]byte, 0, 1+len(mh)+len(kind)+len(repo)+len(commit)+2)
	k = append(k, pfxIndex)
	k = append(k, mh...)
	k = append(k, kind...)
	k = append(k, 0)
	k = append(k, repo...)
	k = append(k, 0)
	k = append(k, commit...)
	return k
}

func indexPrefix(mh multihash.Multihash) []byte {
	return append([]byte{pfxIndex}, mh...)
}

// splitIndexKey returns the multihash and (kind, repo, commit) of an index key.
func splitIndexKey(k []byte) (multihash.Multihash, manifest.Kind, string, string, error) {
	rest := k[1:]
	n, _, err := multihash.MHFromBytes(rest)
	if err != nil {
		return nil, "", "", "", fmt.Errorf("malformed index key: %w", err)
	}
	kind, repo, commit, err := splitKRN(rest[n:])
	if err != nil {
		return nil, "", "", "", err
	}
	return multihash.Multihash(rest[:n]), kind, repo, commit, nil
}

// pinCID normalises a CID for pin keys: a CIDv0 and the CIDv1 dag-pb of the
// same multihash are one pin.
func pinCID(c cid.Cid) cid.Cid {
	if c.Version() == 0 {
		return cid.NewCidV1(cid.DagProtobuf, c.Hash())
	}
	return c
}

func pinPrefix(c cid.Cid) []byte {
	return append([]byte{pfxPin}, pinCID(c).Bytes()...)
}

func pinKey(c cid.Cid, name string) []byte {
	return append(pinPrefix(c), name...)
}

// splitPinKey returns the CID and name of a pin key. CIDs are self-delimiting.
func splitPinKey(k []byte) (cid.Cid, string, error) {
	n, c, err := cid.CidFromBytes(k[1:])
	if err != nil {
		return cid.Undef, "", fmt.Errorf("malformed pin key: %w", err)
	}
	return c, string(k[1+n:]), nil
}

func revisionPinName(kind manifest.Kind, repo, commit string) string {
	return revisionPinPrefix + string(kind) + ":" + repo + "@" + commit
}

// validKind checks a kind argument; the store keeps models and datasets apart.
func validKind(kind manifest.Kind) error {
	if kind != manifest.Model && kind != manifest.Dataset {
		return fmt.Errorf("kind %q: %w", kind, ErrInvalidArgument)
	}
	return nil
}

// MaxNameLen bounds revision and pin names.
const MaxNameLen = 256

// validName checks a revision or pin name: non-empty, at most MaxNameLen
// bytes, valid UTF-8, no control characters (so it cannot break a key).
func validName(what, s string) error {
	if s == "" || len(s) > MaxNameLen || !utf8.ValidString(s) ||
		strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%s %q: must be 1-%d bytes of printable UTF-8: %w", what, s, MaxNameLen, ErrInvalidArgument)
	}
	return nil
}

func encodeVersion(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
