package fetch

import (
	"bufio"
	"bytes"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

func fuzzCID(data string) cid.Cid {
	h, _ := mh.Sum([]byte(data), mh.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, h)
}

func FuzzDecodeRequest(f *testing.F) {
	root := fuzzCID("root")
	for _, r := range []Request{
		{Kind: KindDAG, Root: root},
		{Kind: KindStructure, Root: root},
		{Kind: KindProbe, Root: root},
		{Kind: KindHave, Root: root, Since: 77},
		{Kind: KindLeaves, Root: root, Start: 3, End: 300},
		{Kind: KindCIDs, Root: root, CIDs: []cid.Cid{fuzzCID("a"), fuzzCID("b")}},
	} {
		b, err := AppendRequest(nil, r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1, 4, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			return
		}
		enc, err := AppendRequest(nil, r)
		if err != nil {
			t.Fatalf("AppendRequest(DecodeRequest(%x)) = %v", b, err)
		}
		r2, err := DecodeRequest(enc)
		if err != nil {
			t.Fatalf("DecodeRequest(re-encoded) = %v", err)
		}
		if r2.Kind != r.Kind || !r2.Root.Equals(r.Root) || r2.Start != r.Start || r2.End != r.End || !cidsEqual(r2.CIDs, r.CIDs) || r2.Since != r.Since {
			t.Fatalf("round trip changed the request: %+v, want %+v", r2, r)
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	var seed []byte
	for _, fr := range []Frame{
		{Type: FrameBlock, CID: fuzzCID("x"), Data: []byte("x")},
		{Type: FrameMissing, CID: fuzzCID("y")},
		{Type: FrameError, Msg: "policy: jurisdiction FR not allowed"},
		{Type: FrameEnd},
		{Type: FrameHave, Have: Have{Mode: HaveAll, Gen: 9}},
		{Type: FrameHave, Have: Have{Mode: HaveBits, Gen: 3, Leaves: 11, Bits: []byte{0xff, 0x05}}},
		{Type: FrameHave, Have: Have{Mode: HaveBits, Gen: 0}},
		{Type: FrameHave, Have: Have{Mode: HaveDelta, Gen: 300, Leaves: 1000, Added: []uint32{999, 0, 17}}},
	} {
		b, err := AppendFrame(nil, fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		seed = append(seed, b...)
	}
	f.Add(seed)
	f.Add([]byte{1, 36, 1, 85, 18, 32, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for range 64 {
			fr, err := ReadFrame(r)
			if err != nil {
				return
			}
			enc, err := AppendFrame(nil, fr)
			if err != nil {
				t.Fatalf("AppendFrame(ReadFrame) = %v", err)
			}
			fr2, err := ReadFrame(bufio.NewReader(bytes.NewReader(enc)))
			if err != nil {
				t.Fatalf("ReadFrame(re-encoded) = %v", err)
			}
			if fr2.Type != fr.Type || !fr2.CID.Equals(fr.CID) && fr.CID.Defined() || !bytes.Equal(fr2.Data, fr.Data) || fr2.Msg != fr.Msg ||
				!haveEqual(fr2.Have, fr.Have) {
				t.Fatalf("round trip changed the frame: %+v, want %+v", fr2, fr)
			}
		}
	})
}

func haveEqual(a, b Have) bool {
	return a.Mode == b.Mode && a.Gen == b.Gen && a.Leaves == b.Leaves && bytes.Equal(a.Bits, b.Bits) &&
		slices.Equal(a.Added, b.Added)
}

// FuzzReadHave: a have body decodes to a set that encodes and decodes
// back to the same, and folding it into a peer's have-set never indexes past
// the leaves it names.
func FuzzReadHave(f *testing.F) {
	for _, h := range []Have{
		{Mode: HaveAll, Gen: 2},
		{Mode: HaveBits, Gen: 5, Leaves: 9, Bits: []byte{0x81, 0x01}},
		{Mode: HaveDelta, Gen: 6, Leaves: 9, Added: []uint32{8}},
	} {
		b, err := appendHave(nil, h)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{1, 2, 5, 0xff, 0xff, 0x03})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := readHave(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return
		}
		enc, err := appendHave(nil, h)
		if err != nil {
			t.Fatalf("appendHave(readHave(%x)) = %v", b, err)
		}
		h2, err := readHave(bufio.NewReader(bytes.NewReader(enc)))
		if err != nil || !haveEqual(h, h2) {
			t.Fatalf("round trip of %x: %+v, %v; want %+v", b, h2, err, h)
		}
		var p peerState
		p.applyHave(Have{Mode: HaveBits, Leaves: h.Leaves, Bits: make([]byte, (h.Leaves+7)/8)})
		p.applyHave(h)
	})
}
