package fetch

import (
	"bufio"
	"bytes"
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
		if r2.Kind != r.Kind || !r2.Root.Equals(r.Root) || r2.Start != r.Start || r2.End != r.End || !cidsEqual(r2.CIDs, r.CIDs) {
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
			if fr2.Type != fr.Type || !fr2.CID.Equals(fr.CID) && fr.CID.Defined() || !bytes.Equal(fr2.Data, fr.Data) || fr2.Msg != fr.Msg {
				t.Fatalf("round trip changed the frame: %+v, want %+v", fr2, fr)
			}
		}
	})
}
