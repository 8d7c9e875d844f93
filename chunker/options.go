package chunker

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"runtime"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// MaxBlockSize is the largest block the chunker ever produces.
const MaxBlockSize = 1 << 20

// MaxLinks is the most links a file node holds (Kubo's balanced layout).
const MaxLinks = 174

// Default sizes.
const (
	DefaultMinSize         = 64 << 10
	DefaultAvgSize         = 256 << 10
	DefaultMaxSize         = 1 << 20
	DefaultFixedSize       = 256 << 10
	DefaultTensorChunkSize = 1 << 20
	// batchSize is how many bytes the import reads per batch.
	batchSize = 8 << 20
)

// ErrFormat is wrapped by every error about a malformed safetensors or
// GGUF file.
var ErrFormat = errors.New("malformed file")

// Putter stores blocks. The store satisfies it.
type Putter interface {
	Has(ctx context.Context, c cid.Cid) (bool, error)
	PutMany(ctx context.Context, bs []blocks.Block) error
}

// Getter fetches blocks. The store satisfies it.
type Getter interface {
	Get(ctx context.Context, c cid.Cid) (blocks.Block, error)
}

// Strategy says how a file is cut into chunks.
type Strategy int

const (
	// Auto: by file name, safetensors and GGUF on tensor boundaries, the rest CDC.
	Auto Strategy = iota
	// CDC: content-defined chunking (FastCDC) whatever the format.
	CDC
	// Fixed: every FixedSize bytes.
	Fixed
	// Safetensors: parse as safetensors whatever the name.
	Safetensors
	// GGUF: parse as GGUF whatever the name.
	GGUF
)

func (s Strategy) String() string {
	switch s {
	case Auto:
		return "auto"
	case CDC:
		return "cdc"
	case Fixed:
		return "fixed"
	case Safetensors:
		return "safetensors"
	case GGUF:
		return "gguf"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// Options tune ImportFile. The zero value is the default.
type Options struct {
	// Strategy picks the splitter. Default Auto.
	Strategy Strategy
	// MinSize is the smallest CDC chunk (except a file's last). Default 64 KiB.
	MinSize int
	// AvgSize is the CDC target average, a power of two. Default 256 KiB.
	AvgSize int
	// MaxSize is the largest CDC chunk, at most MaxBlockSize. Default 1 MiB.
	MaxSize int
	// FixedSize is the chunk size of the Fixed strategy. Default 256 KiB.
	FixedSize int
	// TensorChunkSize is the piece size of a large tensor. Default 1 MiB.
	TensorChunkSize int
	// Workers is the number of leaf-hashing goroutines. Default GOMAXPROCS.
	Workers int
}

func (o Options) withDefaults() Options {
	if o.MinSize == 0 {
		o.MinSize = DefaultMinSize
	}
	if o.AvgSize == 0 {
		o.AvgSize = DefaultAvgSize
	}
	if o.MaxSize == 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.FixedSize == 0 {
		o.FixedSize = DefaultFixedSize
	}
	if o.TensorChunkSize == 0 {
		o.TensorChunkSize = DefaultTensorChunkSize
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o
}

// Validate reports an option that cannot work.
func (o Options) Validate() error {
	o = o.withDefaults()
	switch {
	case o.Strategy < Auto || o.Strategy > GGUF:
		return fmt.Errorf("chunker: unknown strategy %d", int(o.Strategy))
	case o.MaxSize < 0 || o.MaxSize > MaxBlockSize:
		return fmt.Errorf("chunker: MaxSize %d outside (0, %d]", o.MaxSize, MaxBlockSize)
	case o.AvgSize < 0 || bits.OnesCount(uint(o.AvgSize)) != 1 || o.AvgSize < 256:
		return fmt.Errorf("chunker: AvgSize %d is not a power of two >= 256", o.AvgSize)
	case o.MinSize < 0 || o.MinSize >= o.AvgSize || o.AvgSize >= o.MaxSize:
		return fmt.Errorf("chunker: want 0 <= MinSize < AvgSize < MaxSize, got %d, %d, %d", o.MinSize, o.AvgSize, o.MaxSize)
	case o.FixedSize < 0 || o.FixedSize > MaxBlockSize:
		return fmt.Errorf("chunker: FixedSize %d outside (0, %d]", o.FixedSize, MaxBlockSize)
	case o.TensorChunkSize < 0 || o.TensorChunkSize > MaxBlockSize:
		return fmt.Errorf("chunker: TensorChunkSize %d outside (0, %d]", o.TensorChunkSize, MaxBlockSize)
	case o.Workers < 0 || o.Workers > 256:
		return fmt.Errorf("chunker: Workers %d outside [0, 256]", o.Workers)
	}
	return nil
}
