package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/internal/direct"
	"github.com/cairnhub/cairn/internal/disk"
	badger "github.com/dgraph-io/badger/v4"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// rawLoc is the 16 bytes of a pack location, built by hand.
func rawLoc(pack uint32, off uint64, n uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, pack)
	b = binary.BigEndian.AppendUint64(b, off)
	return binary.BigEndian.AppendUint32(b, n)
}

func TestPackLocRoundTrip(t *testing.T) {
	for _, l := range []packLoc{
		{},
		{pack: 0, off: 0, n: packThreshold},
		{pack: 1, off: 4096, n: 1 << 20},
		{pack: 12345678, off: 3<<30 + 17, n: 1<<20 + 1},
		{pack: math.MaxUint32, off: packMax - 1<<20, n: 1 << 20},
		{pack: 7, off: packMax - 1, n: 1},
		{pack: 7, off: packMax, n: 0},
		{pack: 8, off: 0, n: math.MaxUint32}, // 4 GiB - 1 fits a 4 GiB pack
	} {
		b := l.encode()
		if want := rawLoc(l.pack, uint64(l.off), uint32(l.n)); !bytes.Equal(b, want) {
			t.Errorf("%+v.encode() = %x, want %x", l, b, want)
		}
		got, err := decodePackLoc(b)
		if err != nil || got != l {
			t.Errorf("decodePackLoc(%x) = %+v, %v, want %+v, nil", b, got, err, l)
		}
		if got.end() != l.off+int64(l.n) {
			t.Errorf("%+v.end() = %d, want %d", got, got.end(), l.off+int64(l.n))
		}
	}
}

func TestDecodePackLocRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    []byte
		want string // in the error
	}{
		{"nil", nil, "0 bytes"},
		{"1 byte", []byte{0}, "1 bytes"},
		{"15 bytes", rawLoc(0, 0, 1)[:15], "15 bytes"},
		{"17 bytes", append(rawLoc(0, 0, 1), 0), "17 bytes"},
		{"32 bytes", append(rawLoc(0, 0, 1), rawLoc(0, 0, 1)...), "32 bytes"},
		{"negative offset", rawLoc(0, 1<<63, 1), "out of range"},
		{"offset -1", rawLoc(0, math.MaxUint64, 0), "out of range"},
		{"end past packMax", rawLoc(0, uint64(packMax)-1, 2), "out of range"},
		{"offset at packMax", rawLoc(0, uint64(packMax), 1), "out of range"},
		{"offset past packMax", rawLoc(0, uint64(packMax)+4096, 0), "out of range"},
		{"offset 1 TiB", rawLoc(3, 1<<40, 1<<20), "out of range"},
		{"end overflows", rawLoc(0, math.MaxInt64, 1), "out of range"},
		{"end overflows far", rawLoc(0, math.MaxInt64-10, math.MaxUint32), "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := decodePackLoc(tc.v)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("decodePackLoc(%x) = %+v, %v, want an error with %q", tc.v, l, err, tc.want)
			}
		})
	}
}

// FuzzDecodePackLoc: whatever a damaged store holds, decodePackLoc must
// not panic, and what it accepts must lie inside a pack and encode back to
// the same bytes.
func FuzzDecodePackLoc(f *testing.F) {
	f.Add(packLoc{pack: 0, off: 4096, n: 65536}.encode())
	f.Add(rawLoc(1, uint64(packMax)-1<<20, 1<<20))
	f.Add(rawLoc(0, math.MaxInt64, 1))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, v []byte) {
		l, err := decodePackLoc(v)
		if err != nil {
			return
		}
		if len(v) != packLocLen {
			t.Fatalf("decodePackLoc(%x) of %d bytes = %+v, nil, want an error", v, len(v), l)
		}
		if l.off < 0 || l.n < 0 || l.off > packMax || int64(l.n) > packMax-l.off {
			t.Fatalf("decodePackLoc(%x) = %+v, nil, outside [0, %d]", v, l, packMax)
		}
		if again := l.encode(); !bytes.Equal(again, v) {
			t.Fatalf("decodePackLoc(%x).encode() = %x", v, again)
		}
	})
}

// --- stores with packs ---

// noise returns n pseudo-random bytes, different for every seed.
func noise(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24), 'p'})
	_, _ = r.Read(b)
	return b
}

// rawBlock is data as a CIDv1 raw sha2-256 block (GC treats raw blocks as
// leaves, so any bytes do).
func rawBlock(t testing.TB, data []byte) blocks.Block {
	t.Helper()
	mh, err := multihash.Sum(data, multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := blocks.NewBlockWithCid(data, cid.NewCidV1(cid.Raw, mh))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seq makes one block per size, from seeds seed, seed+1, ...
func seq(t testing.TB, seed uint64, sizes ...int) []blocks.Block {
	bs := make([]blocks.Block, len(sizes))
	for i, n := range sizes {
		bs[i] = rawBlock(t, noise(seed+uint64(i), n))
	}
	return bs
}

// openStore opens the store in dir, closed when the test ends.
func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// reopen closes s and opens its directory again.
func reopen(t *testing.T, s *Store) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	return openStore(t, s.opts.Dir)
}

func put(t *testing.T, s *Store, bs ...blocks.Block) {
	t.Helper()
	if err := s.PutMany(t.Context(), bs); err != nil {
		t.Fatalf("PutMany(%d blocks) = %v", len(bs), err)
	}
}

func pin(t *testing.T, s *Store, bs ...blocks.Block) {
	t.Helper()
	for _, b := range bs {
		if err := s.Pin(t.Context(), b.Cid(), "keep"); err != nil {
			t.Fatalf("Pin(%s) = %v", b.Cid(), err)
		}
	}
}

func gc(t *testing.T, s *Store) GCStats {
	t.Helper()
	st, err := s.GC(t.Context())
	if err != nil {
		t.Fatalf("GC() = %v", err)
	}
	return st
}

// locOf returns where b's body is, and whether it is packed at all.
func locOf(t *testing.T, s *Store, b blocks.Block) (packLoc, bool) {
	t.Helper()
	var l packLoc
	var packed bool
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(blockKey(b.Cid().Hash()))
		if err != nil {
			return err
		}
		if packed = it.UserMeta() == metaPacked; packed {
			l, err = itemLoc(it)
		}
		return err
	})
	if err != nil {
		t.Fatalf("index entry of %s: %v", b.Cid(), err)
	}
	return l, packed
}

// packIDs lists the pack files in the store's pack directory.
func packIDs(t *testing.T, s *Store) []uint32 {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.opts.Dir, packDir))
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint32
	for _, e := range ents {
		var id uint32
		if _, err := fmt.Sscanf(e.Name(), "%08d.pack", &id); err != nil || e.Name() != fmt.Sprintf("%08d.pack", id) {
			t.Errorf("stray file %s in %s", e.Name(), packDir)
			continue
		}
		ids = append(ids, id)
	}
	return ids
}

func packPath(s *Store, id uint32) string {
	return filepath.Join(s.opts.Dir, packDir, fmt.Sprintf("%08d.pack", id))
}

func packSize(t *testing.T, s *Store, id uint32) int64 {
	t.Helper()
	fi, err := os.Stat(packPath(s, id))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// allocatedAt is the disk space the file at path takes (allocated).
func allocatedAt(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return disk.Allocated(fi)
}

// punching says whether direct.PunchHole gives space back here.
var punching = runtime.GOOS == "linux"

// checkBlocks reads every block back every way, with hashes checked.
func checkBlocks(t *testing.T, s *Store, bs ...blocks.Block) {
	t.Helper()
	ctx := t.Context()
	s.HashOnRead(true)
	defer s.HashOnRead(false)
	for _, b := range bs {
		c, want := b.Cid(), b.RawData()
		if ok, err := s.Has(ctx, c); !ok || err != nil {
			t.Errorf("Has(%s) = %v, %v, want true, nil", c, ok, err)
		}
		if n, err := s.GetSize(ctx, c); n != len(want) || err != nil {
			t.Errorf("GetSize(%s) = %d, %v, want %d, nil", c, n, err, len(want))
		}
		got, err := s.Get(ctx, c)
		if err != nil || !bytes.Equal(got.RawData(), want) || !got.Cid().Equals(c) {
			t.Errorf("Get(%s) = %d bytes, %v, want the %d bytes put", c, len(rawData(got)), err, len(want))
		}
		// The same multihash under another CID is the same block.
		v1 := cid.NewCidV1(cid.DagProtobuf, c.Hash())
		if got, err := s.Get(ctx, v1); err != nil || !bytes.Equal(got.RawData(), want) || !got.Cid().Equals(v1) {
			t.Errorf("Get(%s) = %d bytes, %v, want the %d bytes of %s", v1, len(rawData(got)), err, len(want), c)
		}
		var viewed int
		err = s.View(ctx, c, func(v []byte) error {
			viewed = len(v)
			if !bytes.Equal(v, want) {
				return errors.New("wrong bytes")
			}
			return nil
		})
		if err != nil {
			t.Errorf("View(%s) = %v (%d bytes), want nil (%d bytes)", c, err, viewed, len(want))
		}
	}
}

func rawData(b blocks.Block) []byte {
	if b == nil {
		return nil
	}
	return b.RawData()
}

// TestPackedBlocks puts blocks on both sides of packThreshold: all read
// back every way, Stat counts their exact bytes, the large ones are in a
// pack file and the small ones are not.
func TestPackedBlocks(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, t.TempDir())
	sizes := []int{1, 100, valueThreshold - 1, valueThreshold, 4096, packThreshold - 1,
		packThreshold, packThreshold + 1, 64 << 10, 1 << 20, 1<<20 + 1, 3<<20 + 5}
	bs := seq(t, 1, sizes...)
	// Two batches and single puts: several padded writes.
	put(t, s, bs[:6]...)
	put(t, s, bs[6:9]...)
	for _, b := range bs[9:] {
		if err := s.Put(ctx, b); err != nil {
			t.Fatalf("Put(%d bytes) = %v", len(b.RawData()), err)
		}
	}
	checkBlocks(t, s, bs...)

	st, err := s.Stat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, n := range sizes {
		sum += int64(n)
	}
	if st.Blocks != int64(len(bs)) || st.BlockBytes != sum {
		t.Errorf("Stat() = %d blocks, %d bytes, want %d, %d", st.Blocks, st.BlockBytes, len(bs), sum)
	}

	if ids := packIDs(t, s); !slices.Equal(ids, []uint32{0}) {
		t.Fatalf("pack files = %v, want [0]", ids)
	}
	pack, err := os.ReadFile(packPath(s, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(pack)%direct.Align != 0 {
		t.Errorf("pack size = %d, want a multiple of %d", len(pack), direct.Align)
	}
	var spans []packLoc
	for _, b := range bs {
		data := b.RawData()
		l, packed := locOf(t, s, b)
		if want := len(data) >= packThreshold; packed != want {
			t.Errorf("block of %d bytes packed = %v, want %v", len(data), packed, want)
			continue
		}
		if !packed {
			if len(data) >= 32 && bytes.Contains(pack, data[:32]) {
				t.Errorf("block of %d bytes found in the pack, want it in badger only", len(data))
			}
			continue
		}
		if l.pack != 0 || l.n != len(data) || l.end() > int64(len(pack)) {
			t.Errorf("block of %d bytes at %+v, want inside pack 0 of %d bytes", len(data), l, len(pack))
			continue
		}
		if !bytes.Equal(pack[l.off:l.end()], data) {
			t.Errorf("pack bytes at %+v differ from the block", l)
		}
		spans = append(spans, l)
	}
	slices.SortFunc(spans, func(a, b packLoc) int { return int(a.off - b.off) })
	for i := 1; i < len(spans); i++ {
		if spans[i].off < spans[i-1].end() {
			t.Errorf("blocks at %+v and %+v overlap", spans[i-1], spans[i])
		}
	}
	// Every PutMany starts on a page.
	for _, b := range []blocks.Block{bs[6], bs[9], bs[10], bs[11]} {
		if l, _ := locOf(t, s, b); l.off%direct.Align != 0 {
			t.Errorf("first block of a PutMany at offset %d, want a multiple of %d", l.off, direct.Align)
		}
	}

	// Putting present blocks again writes nothing.
	put(t, s, bs...)
	if n := packSize(t, s, 0); n != int64(len(pack)) {
		t.Errorf("pack size after putting present blocks = %d, want %d", n, len(pack))
	}
	// Absent blocks.
	absent := rawBlock(t, noise(999, packThreshold))
	if ok, err := s.Has(ctx, absent.Cid()); ok || err != nil {
		t.Errorf("Has(absent) = %v, %v, want false, nil", ok, err)
	}
	if _, err := s.Get(ctx, absent.Cid()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(absent) = %v, want ErrNotFound", err)
	}
	if n, err := s.GetSize(ctx, absent.Cid()); n != -1 || !errors.Is(err, ErrNotFound) {
		t.Errorf("GetSize(absent) = %d, %v, want -1, ErrNotFound", n, err)
	}
}

// TestPackCorruptionDetected changes a byte of a packed block in its pack
// file: with HashOnRead the read fails, which shows reads come from the
// pack.
func TestPackCorruptionDetected(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, t.TempDir())
	b := seq(t, 5, 100<<10)[0]
	put(t, s, b)
	l, _ := locOf(t, s, b)
	f, err := os.OpenFile(packPath(s, l.pack), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{^b.RawData()[l.n/2]}, l.off+int64(l.n/2)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s.HashOnRead(true)
	if _, err := s.Get(ctx, b.Cid()); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("Get of a damaged packed block = %v, want ErrHashMismatch", err)
	}
	if err := s.View(ctx, b.Cid(), func([]byte) error { return nil }); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("View of a damaged packed block = %v, want ErrHashMismatch", err)
	}
}

// TestPackReopen closes and reopens a store: old blocks read back, and
// new writes append to the newest pack after its end, on a page, unless
// it has less than packSlack of room left.
func TestPackReopen(t *testing.T) {
	for _, tc := range []struct {
		name string
		full bool // fill pack 0 (sparsely) to packMax-packSlack before reopening
	}{
		{"append", false},
		{"full pack", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, t.TempDir())
			old := seq(t, 10, 100<<10, 5000, 1<<20+3, packThreshold+1)
			put(t, s, old[:2]...)
			put(t, s, old[2:]...)
			end := packSize(t, s, 0)
			if end%direct.Align != 0 {
				t.Errorf("pack size = %d, want a multiple of %d", end, direct.Align)
			}
			if tc.full {
				end = packMax - packSlack
				if err := os.Truncate(packPath(s, 0), end); err != nil {
					t.Fatal(err)
				}
			}
			s = reopen(t, s)
			checkBlocks(t, s, old...)

			nw := seq(t, 20, 64<<10, 17, 200<<10+1)
			put(t, s, nw...)
			checkBlocks(t, s, append(old, nw...)...)
			wantPack, wantOff := uint32(0), end
			if tc.full {
				wantPack, wantOff = 1, 0
			}
			if l, _ := locOf(t, s, nw[0]); l.pack != wantPack || l.off != wantOff {
				t.Errorf("first block after reopening at %+v, want pack %d offset %d", l, wantPack, wantOff)
			}
			if ids, want := packIDs(t, s), []uint32{0, wantPack}[:wantPack+1]; !slices.Equal(ids, want) {
				t.Errorf("pack files = %v, want %v", ids, want)
			}

			// Once more: appending goes on in the same pack, on a page.
			end = packSize(t, s, wantPack)
			s = reopen(t, s)
			more := seq(t, 30, packThreshold)
			put(t, s, more...)
			if l, _ := locOf(t, s, more[0]); l.pack != wantPack || l.off != end || l.off%direct.Align != 0 {
				t.Errorf("first block after the second reopening at %+v, want pack %d offset %d", l, wantPack, end)
			}
			checkBlocks(t, s, append(append(old, nw...), more...)...)
		})
	}
}

// TestPackReclaim leaves pack bytes no index entry points at (a write
// whose index entries never went in, or blocks GC deletes) and checks that
// GC punches them out while live blocks read back intact.
func TestPackReclaim(t *testing.T) {
	const orphanSize = 1 << 20
	for _, tc := range []struct {
		name string
		// build fills the store and returns it (maybe reopened), the
		// blocks to keep, and the pack range that must be given back.
		build func(t *testing.T, s *Store) (*Store, []blocks.Block, packLoc)
	}{
		{"orphan between live blocks", func(t *testing.T, s *Store) (*Store, []blocks.Block, packLoc) {
			live := seq(t, 1, 64<<10, 64<<10)
			put(t, s, live[0])
			o := orphan(t, s, orphanSize)
			put(t, s, live[1])
			return s, live, o
		}},
		{"orphan at the writer's end", func(t *testing.T, s *Store) (*Store, []blocks.Block, packLoc) {
			live := seq(t, 1, 64<<10)
			put(t, s, live...)
			return s, live, orphan(t, s, orphanSize)
		}},
		{"orphan at the end after reopening", func(t *testing.T, s *Store) (*Store, []blocks.Block, packLoc) {
			live := seq(t, 1, 64<<10)
			put(t, s, live...)
			o := orphan(t, s, orphanSize)
			return reopen(t, s), live, o
		}},
		{"orphan of several blocks", func(t *testing.T, s *Store) (*Store, []blocks.Block, packLoc) {
			live := seq(t, 1, 64<<10, 64<<10)
			put(t, s, live[0])
			o := orphan(t, s, 300<<10, 300<<10+1, 400<<10+7)
			put(t, s, live[1])
			return s, live, o
		}},
		{"deleted block", func(t *testing.T, s *Store) (*Store, []blocks.Block, packLoc) {
			live := seq(t, 1, 64<<10, 64<<10)
			dead := seq(t, 50, orphanSize)[0]
			put(t, s, live[0])
			put(t, s, dead)
			put(t, s, live[1])
			l, _ := locOf(t, s, dead)
			return s, live, l
		}},
		{"deleted block sharing a page with a live one", func(t *testing.T, s *Store) (*Store, []blocks.Block, packLoc) {
			live := seq(t, 1, 64<<10+1, 64<<10)
			dead := seq(t, 50, orphanSize+100)[0]
			put(t, s, live[0], dead, live[1]) // back to back, one padded write
			l, _ := locOf(t, s, dead)
			if l.off%direct.Align == 0 {
				t.Fatalf("dead block at %+v, want it off a page boundary", l)
			}
			return s, live, l
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, t.TempDir())
			s, live, o := tc.build(t, s)
			pin(t, s, live...)
			path := packPath(s, o.pack)
			size := packSize(t, s, o.pack)
			before := allocatedAt(t, path)

			gc(t, s)
			checkBlocks(t, s, live...)
			if n := packSize(t, s, o.pack); n != size {
				t.Errorf("pack size after GC = %d, want %d (unchanged)", n, size)
			}
			// Whole pages of the dead range are given back and read as zeros.
			lo, hi := direct.Up(o.off), direct.Down(o.end())
			after := allocatedAt(t, path)
			t.Logf("pack %d: %d bytes allocated before GC, %d after; dead range %+v", o.pack, before, after, o)
			if punching {
				if freed := before - after; freed < hi-lo {
					t.Errorf("GC freed %d bytes of the pack (%d -> %d), want at least the %d dead bytes of whole pages", freed, before, after, hi-lo)
				}
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]byte, hi-lo)
				_, err = f.ReadAt(got, lo)
				f.Close()
				if err != nil || !bytes.Equal(got, make([]byte, hi-lo)) {
					t.Errorf("dead range %d..%d after GC: %v, not all zeros", lo, hi, err)
				}
			}

			// A second GC changes nothing; writing goes on.
			gc(t, s)
			checkBlocks(t, s, live...)
			if a := allocatedAt(t, path); a != after {
				t.Errorf("allocated after a second GC = %d, want %d", a, after)
			}
			nw := seq(t, 70, 128<<10)
			put(t, s, nw...)
			pin(t, s, nw...)
			checkBlocks(t, s, append(live, nw...)...)
		})
	}
}

// orphan writes blocks of sizes into s's packs without index entries, as
// a PutMany that fails after its pack write would, and returns the range
// they cover.
func orphan(t *testing.T, s *Store, sizes ...int) packLoc {
	t.Helper()
	data := make([][]byte, len(sizes))
	for i, n := range sizes {
		data[i] = noise(uint64(900+i), n)
	}
	locs, err := s.packs.write(data)
	if err != nil {
		t.Fatalf("packs.write = %v", err)
	}
	first, last := locs[0], locs[len(locs)-1]
	if last.pack != first.pack {
		t.Fatalf("orphan write spans packs %d and %d", first.pack, last.pack)
	}
	return packLoc{pack: first.pack, off: first.off, n: int(last.end() - first.off)}
}

// TestPackRemove makes two packs (packMax lowered), then has GC delete
// blocks: a pack with nothing live goes unless it is being written, one
// with something live stays, mostly punched out.
func TestPackRemove(t *testing.T) {
	old := packMax
	packMax = packSlack + 1<<20 // the lowest that rolls (see roll)
	t.Cleanup(func() { packMax = old })
	s := openStore(t, t.TempDir())

	// 1 MiB blocks, 8 per PutMany: pack 0 takes 65, the 9th batch rolls.
	const blockSize = 1 << 20
	base := noise(1, blockSize)
	var bs []blocks.Block
	for i := range 72 {
		d := slices.Clone(base)
		binary.BigEndian.PutUint64(d, uint64(i))
		bs = append(bs, rawBlock(t, d))
	}
	for i := 0; i < len(bs); i += 8 {
		put(t, s, bs[i:i+8]...)
	}
	if ids := packIDs(t, s); !slices.Equal(ids, []uint32{0, 1}) {
		t.Fatalf("pack files = %v, want [0 1]", ids)
	}
	var in0, in1 []blocks.Block
	for _, b := range bs {
		l, _ := locOf(t, s, b)
		if l.end() > packMax {
			t.Errorf("block at %+v, past packMax %d", l, packMax)
		}
		switch l.pack {
		case 0:
			in0 = append(in0, b)
		case 1:
			in1 = append(in1, b)
		default:
			t.Errorf("block at %+v, want pack 0 or 1", l)
		}
	}
	if n := int(packMax / blockSize); len(in0) != n || len(in1) != len(bs)-n {
		t.Fatalf("packs hold %d and %d blocks, want %d and %d", len(in0), len(in1), n, len(bs)-n)
	}
	if l, _ := locOf(t, s, in1[0]); l.off != 0 {
		t.Errorf("first block of pack 1 at %+v, want offset 0", l)
	}
	if n := packSize(t, s, 0); n > packMax || n%direct.Align != 0 {
		t.Errorf("pack 0 size = %d, want a multiple of %d up to %d", n, direct.Align, packMax)
	}
	checkBlocks(t, s, bs...)

	// One block of pack 0 live: the pack stays, the rest of it is punched.
	pin(t, s, in0[10])
	pin(t, s, in1...)
	before := allocatedAt(t, packPath(s, 0))
	if st := gc(t, s); st.Blocks != int64(len(in0)-1) {
		t.Errorf("GC deleted %d blocks, want %d", st.Blocks, len(in0)-1)
	}
	if ids := packIDs(t, s); !slices.Equal(ids, []uint32{0, 1}) {
		t.Errorf("pack files with a live block in each = %v, want [0 1]", ids)
	}
	if after := allocatedAt(t, packPath(s, 0)); punching && after > 2*blockSize {
		t.Errorf("pack 0 holding one live block of %d: %d bytes allocated (%d before GC), want at most %d", blockSize, after, before, 2*blockSize)
	}
	checkBlocks(t, s, in0[10])
	checkBlocks(t, s, in1...)

	// Nothing of pack 0 live: it goes; pack 1 is written to, it stays.
	if err := s.Unpin(t.Context(), in0[10].Cid()); err != nil {
		t.Fatal(err)
	}
	gc(t, s)
	if ids := packIDs(t, s); !slices.Equal(ids, []uint32{1}) {
		t.Errorf("pack files after deleting every block of pack 0 = %v, want [1]", ids)
	}
	checkBlocks(t, s, in1...)

	// Nothing live at all: the writer's pack stays, emptied.
	for _, b := range in1 {
		if err := s.Unpin(t.Context(), b.Cid()); err != nil {
			t.Fatal(err)
		}
	}
	gc(t, s)
	if ids := packIDs(t, s); !slices.Equal(ids, []uint32{1}) {
		t.Errorf("pack files after deleting every block, pack 1 being written = %v, want [1]", ids)
	}
	if a := allocatedAt(t, packPath(s, 1)); punching && a > 0 {
		t.Errorf("pack 1 with nothing live: %d bytes allocated, want 0", a)
	}
	nw := seq(t, 100, 64<<10)
	put(t, s, nw...)
	pin(t, s, nw...)
	checkBlocks(t, s, nw...)
	if l, _ := locOf(t, s, nw[0]); l.pack != 1 {
		t.Errorf("block written after GC at %+v, want pack 1", l)
	}

	// Reopened, no pack is being written: a pack with nothing live goes.
	s = reopen(t, s)
	if err := s.Unpin(t.Context(), nw[0].Cid()); err != nil {
		t.Fatal(err)
	}
	gc(t, s)
	if ids := packIDs(t, s); len(ids) != 0 {
		t.Errorf("pack files after deleting every block, none being written = %v, want none", ids)
	}
	last := seq(t, 200, 100<<10)
	put(t, s, last...)
	checkBlocks(t, s, last...)
}

// TestVersion opens stores whose version key holds various values: a new
// store gets formatVersion, version 1 is upgraded in place (its blocks,
// all in badger, still read), others are refused.
func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stored []byte // nil: leave what Open wrote
		err    string // "": opens
	}{
		{"new", nil, ""},
		{"1", encodeVersion(1), ""},
		{"2", encodeVersion(2), ""},
		{"3", encodeVersion(3), "layout version 3"},
		{"0", encodeVersion(0), "layout version 0"},
		{"huge", encodeVersion(math.MaxUint32), fmt.Sprintf("layout version %d", uint32(math.MaxUint32))},
		{"2 bytes", []byte{0, 1}, "layout version 0001"},
		{"empty", []byte{}, "layout version ,"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			dir := t.TempDir()
			s, err := Open(Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			// A version 1 store kept every block in badger, big ones too.
			bs := seq(t, 1, 100, 2000, packThreshold, 1<<20)
			err = s.db.Update(func(txn *badger.Txn) error {
				for _, b := range bs {
					if err := txn.Set(blockKey(b.Cid().Hash()), b.RawData()); err != nil {
						return err
					}
				}
				if tc.stored == nil {
					return nil
				}
				return txn.Set(versionKey, tc.stored)
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s, err = Open(Options{Dir: dir})
			if tc.err != "" {
				if err == nil {
					s.Close()
					t.Fatalf("Open of a store at version %x = nil, want an error with %q", tc.stored, tc.err)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Errorf("Open of a store at version %x = %v, want an error with %q", tc.stored, err, tc.err)
				}
				// Refused, the database is closed again: a second try says
				// the same, not that the directory is locked.
				if _, err2 := Open(Options{Dir: dir}); err2 == nil || err2.Error() != err.Error() {
					t.Errorf("second Open = %v, want %v", err2, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open of a store at version %x = %v, want nil", tc.stored, err)
			}
			t.Cleanup(func() { s.Close() })
			var got []byte
			err = s.db.View(func(txn *badger.Txn) error {
				it, err := txn.Get(versionKey)
				if err != nil {
					return err
				}
				got, err = it.ValueCopy(nil)
				return err
			})
			if err != nil || !bytes.Equal(got, encodeVersion(formatVersion)) {
				t.Errorf("version key after Open = %x, %v, want %x", got, err, encodeVersion(formatVersion))
			}
			checkBlocks(t, s, bs...)
			for _, b := range bs {
				if _, packed := locOf(t, s, b); packed {
					t.Errorf("block of %d bytes put in badger is packed after Open", len(b.RawData()))
				}
			}
			st, err := s.Stat(ctx)
			if want := int64(100 + 2000 + packThreshold + 1<<20); err != nil || st.BlockBytes != want {
				t.Errorf("Stat() = %d bytes, %v, want %d", st.BlockBytes, err, want)
			}
			// Old and new blocks live side by side, through GC too.
			nw := seq(t, 10, 1<<20)
			put(t, s, nw...)
			pin(t, s, bs[3], nw[0])
			if st := gc(t, s); st.Blocks != 3 {
				t.Errorf("GC deleted %d blocks, want 3", st.Blocks)
			}
			checkBlocks(t, s, bs[3], nw[0])
		})
	}
}

// TestStatDiskBytes: Stat counts the packs' allocated space, and GC's
// holes give it back.
func TestStatDiskBytes(t *testing.T) {
	s := openStore(t, t.TempDir())
	keep := seq(t, 1, 1<<20)
	drop := seq(t, 2, 1<<20, 1<<20, 1<<20, 1<<20, 1<<20, 1<<20, 1<<20, 1<<20)
	put(t, s, keep...)
	put(t, s, drop...)
	pin(t, s, keep...)
	before, err := s.Stat(t.Context())
	if err != nil {
		t.Fatalf("Stat() = %v", err)
	}
	if before.DiskBytes < before.BlockBytes {
		t.Errorf("Stat().DiskBytes = %d, want at least BlockBytes %d", before.DiskBytes, before.BlockBytes)
	}
	gs := gc(t, s)
	after, err := s.Stat(t.Context())
	if err != nil {
		t.Fatalf("Stat() = %v", err)
	}
	if punching && before.DiskBytes-after.DiskBytes < 7<<20 {
		t.Errorf("Stat().DiskBytes after GC of 8 MiB = %d, before %d: want at least 7 MiB less", after.DiskBytes, before.DiskBytes)
	}
	if punching && gs.DiskFreed < 7<<20 {
		t.Errorf("GC().DiskFreed = %d after deleting 8 MiB of blocks, want at least 7 MiB", gs.DiskFreed)
	}
	checkBlocks(t, s, keep...)
}

// TestViewOnce: blocks read for a one-time stream come back whole whether
// the page cache holds them or not (direct reads of unaligned blocks),
// and ReadOnce's buffers stay the caller's until released.
func TestViewOnce(t *testing.T) {
	s := openStore(t, t.TempDir())
	bs := seq(t, 9, 16<<10, 100<<10+3, 1<<20, 5, 1<<20+5000, 3<<20+1, 200<<10)
	put(t, s, bs[:3]...)
	put(t, s, bs[3:]...)
	for _, round := range []string{"cold", "after View"} {
		s = reopen(t, s)
		if round == "after View" {
			checkBlocks(t, s, bs...)
		}
		for _, b := range bs {
			var got []byte
			err := s.ViewOnce(t.Context(), b.Cid(), func(v []byte) error {
				got = append([]byte(nil), v...)
				return nil
			})
			if err != nil || !bytes.Equal(got, b.RawData()) {
				t.Errorf("%s: ViewOnce(%d-byte block) = %d bytes, %v; want the block", round, len(b.RawData()), len(got), err)
			}
		}
		checkReadOnce(t, s, round, bs)
	}
	if err := s.ViewOnce(t.Context(), seq(t, 99, 20<<10)[0].Cid(), func([]byte) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("ViewOnce(absent) = %v, want ErrNotFound", err)
	}
	if _, _, err := s.ReadOnce(t.Context(), seq(t, 99, 20<<10)[0].Cid()); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadOnce(absent) = %v, want ErrNotFound", err)
	}
}

// checkReadOnce reads every block of bs with ReadOnce, twice over, keeping
// all the buffers, and checks each only once all are read: a buffer
// handed out is not reused before its release.
func checkReadOnce(t *testing.T, s *Store, round string, bs []blocks.Block) {
	t.Helper()
	var got [][]byte
	var releases []func()
	for range 2 {
		for _, b := range bs {
			data, release, err := s.ReadOnce(t.Context(), b.Cid())
			if err != nil {
				t.Fatalf("%s: ReadOnce(%d-byte block): %v", round, len(b.RawData()), err)
			}
			got, releases = append(got, data), append(releases, release)
		}
	}
	for i, data := range got {
		if b := bs[i%len(bs)]; !bytes.Equal(data, b.RawData()) {
			t.Errorf("%s: ReadOnce(%d-byte block) = %d bytes, not the block", round, len(b.RawData()), len(data))
		}
	}
	for _, release := range releases {
		release()
	}
}
