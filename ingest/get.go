package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/manifest"
)

// ErrMismatch reports content that does not hash to what the manifest or
// CID says.
var ErrMismatch = errors.New("content does not match its digest")

// Select returns the files of m at the given paths (all when paths is
// empty); a path that names a folder selects every file below it.
func Select(m *manifest.Manifest, paths []string) ([]manifest.File, error) {
	if len(paths) == 0 {
		return m.Files, nil
	}
	var out []manifest.File
	seen := map[string]bool{}
	for _, p := range paths {
		n := len(out)
		for _, f := range m.Files {
			if (f.Path == p || len(f.Path) > len(p) && f.Path[:len(p)] == p && f.Path[len(p)] == '/') && !seen[f.Path] {
				seen[f.Path] = true
				out = append(out, f)
			}
		}
		if len(out) == n {
			return nil, fmt.Errorf("%s@%s: no file %q", m.Repo, m.Commit[:12], p)
		}
	}
	return out, nil
}

// GetOptions tunes Get.
type GetOptions struct {
	// Progress, when set, is called with bytes written so far and the total.
	Progress func(done, total int64)
}

// Get writes files of m below outDir, each first to a temporary name, then
// renamed into place only after its sha256 matched the manifest. A file
// already present with the right size and sha256 is left as it is.
func Get(ctx context.Context, get chunker.Getter, m *manifest.Manifest, files []manifest.File, outDir string, opts GetOptions) error {
	var total, done int64
	for _, f := range files {
		total += f.Size
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		dst := filepath.Join(outDir, filepath.FromSlash(f.Path))
		if ok, _ := fileMatches(dst, f); ok {
			done += f.Size
			continue
		}
		if err := writeFile(ctx, get, f, outDir); err != nil {
			return err
		}
		done += f.Size
		if opts.Progress != nil {
			opts.Progress(done, total)
		}
	}
	return nil
}

// writeFile writes f below outDir (a .part file, with direct I/O, as the
// Assembler writes), renamed into place once its sha256 matched.
func writeFile(ctx context.Context, get chunker.Getter, f manifest.File, outDir string) error {
	r, err := chunker.NewReader(ctx, get, f.CID)
	if err != nil {
		return fmt.Errorf("get %s: %w", f.Path, err)
	}
	out, err := createOutput(outDir, f)
	if err != nil {
		return err
	}
	defer out.abort()
	// WriteRange reads and checks the leaves batches ahead, on other
	// goroutines, while this one hashes the file and writes it.
	h := sha256.New()
	n, err := r.WriteRange(ctx, io.MultiWriter(out, h), 0, r.Size())
	if err != nil {
		return fmt.Errorf("get %s: %w", f.Path, err)
	}
	if err := check(f, n, h); err != nil {
		return err
	}
	return out.commit()
}

func fileMatches(path string, f manifest.File) (bool, error) {
	fd, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer fd.Close()
	if fi, err := fd.Stat(); err != nil || !fi.Mode().IsRegular() || fi.Size() != f.Size {
		return false, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, fd); err != nil {
		return false, err
	}
	return hex.EncodeToString(h.Sum(nil)) == f.SHA256, nil
}

// Problem is one thing Verify found wrong.
type Problem struct {
	Path  string  // file in the revision
	Block cid.Cid // the bad or missing block, if the problem is one block
	Err   error
}

func (p Problem) String() string {
	if p.Block.Defined() {
		return fmt.Sprintf("%s: block %s: %v", p.Path, p.Block, p.Err)
	}
	return fmt.Sprintf("%s: %v", p.Path, p.Err)
}

// Verify re-hashes every block of every file of m and each whole file,
// and returns what does not match. A nil slice means all is well; an error
// means verification itself could not run.
func Verify(ctx context.Context, get chunker.Getter, m *manifest.Manifest) ([]Problem, error) {
	var problems []Problem
	for _, f := range m.Files {
		if err := ctx.Err(); err != nil {
			return problems, err
		}
		problems = append(problems, verifyFile(ctx, get, f)...)
	}
	return problems, nil
}

// verifyFile checks one file. A sound file is read once, its leaves
// checked a few batches ahead of its sha256 (chunker.Reader.WriteRange,
// two at a time where the store lets it); any problem and the file is
// gone through again, block by block, to list every bad block.
func verifyFile(ctx context.Context, get chunker.Getter, f manifest.File) []Problem {
	if fileSound(ctx, get, f) {
		return nil
	}
	return verifyBlocks(ctx, get, f)
}

// fileSound reports whether f's blocks and sha256 are all as they should be.
func fileSound(ctx context.Context, get chunker.Getter, f manifest.File) bool {
	r, err := chunker.NewReader(ctx, get, f.CID)
	if err != nil {
		return false
	}
	h := sha256.New()
	n, err := r.WriteRange(ctx, h, 0, r.Size())
	return err == nil && n == f.Size && hex.EncodeToString(h.Sum(nil)) == f.SHA256
}

func verifyBlocks(ctx context.Context, get chunker.Getter, f manifest.File) []Problem {
	var bad []Problem
	all, err := chunker.CIDs(ctx, get, f.CID)
	if err != nil {
		return []Problem{{Path: f.Path, Err: err}}
	}
	for _, c := range all {
		if err := ctx.Err(); err != nil {
			return append(bad, Problem{Path: f.Path, Err: err})
		}
		// A verifying store refuses the block itself; any other Getter
		// hands it over and it is checked here.
		b, err := get.Get(ctx, c)
		if err == nil {
			err = CheckBlock(c, b.RawData())
		} else if errors.Is(err, blockstore.ErrHashMismatch) {
			err = fmt.Errorf("%w: block %s", ErrMismatch, c)
		}
		if err != nil {
			bad = append(bad, Problem{Path: f.Path, Block: c, Err: err})
		}
	}
	if len(bad) > 0 {
		return bad
	}
	r, err := chunker.NewReader(ctx, get, f.CID)
	if err != nil {
		return []Problem{{Path: f.Path, Err: err}}
	}
	h := sha256.New()
	n, err := io.Copy(h, r)
	switch {
	case err != nil:
		return []Problem{{Path: f.Path, Err: err}}
	case n != f.Size:
		return []Problem{{Path: f.Path, Err: fmt.Errorf("%w: %d bytes, manifest says %d", ErrMismatch, n, f.Size)}}
	case hex.EncodeToString(h.Sum(nil)) != f.SHA256:
		return []Problem{{Path: f.Path, Err: fmt.Errorf("%w: whole-file sha256 differs from manifest", ErrMismatch)}}
	}
	return nil
}

// CheckBlock reports whether data hashes to c.
func CheckBlock(c cid.Cid, data []byte) error {
	p := c.Prefix()
	sum, err := multihash.Sum(data, p.MhType, p.MhLength)
	if err != nil {
		return fmt.Errorf("hash block %s: %w", c, err)
	}
	if !bytes.Equal(sum, c.Hash()) {
		return fmt.Errorf("%w: block %s", ErrMismatch, c)
	}
	return nil
}
