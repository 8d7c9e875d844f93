package store

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/ipfs/go-cid"
)

// Options configures a Store. The zero value (with Dir set) is the default.
type Options struct {
	// Dir holds the badger files. Required unless InMemory.
	Dir string
	// InMemory makes a throw-away store (tests, scratch imports): badger on
	// a private temporary directory, under /dev/shm when it exists, removed
	// at Close. Not badger's own InMemory mode: in badger v4.9.6 that mode
	// panics on any value at least ValueThreshold long (at most 1 MiB, the
	// chunker's largest block) because the threshold is fixed before
	// InMemory moves values into the LSM tree. Default false.
	InMemory bool
	// SyncWrites fsyncs every write before it returns. Default false: every
	// write is still atomic and survives kill -9 (the page cache outlives
	// the process), but the last writes may be lost on power failure.
	SyncWrites bool
	// MemTableSize is the size of one badger memtable. Default 16 MiB.
	// Values live in the value log, so memtables hold only keys and
	// pointers: small ones cost nothing in throughput and bound memory.
	MemTableSize int64
	// ValueLogFileSize is the size of one value log file. Default 1.5 GiB.
	// Badger msyncs a value-log file when it starts the next one, and every
	// write waits meanwhile, so files are large (block bodies of 16 KiB or
	// more go to packs, so a file lasts long). The price: GC never rewrites
	// the file being written, so up to this much garbage can stay on disk
	// until writes fill the file. At least 80 MiB (a 64 MiB manifest must
	// fit), below 2 GiB (badger's limit).
	ValueLogFileSize int64
	// MinFreeBytes is the free space PutMany and Commit leave on the file
	// system holding Dir: a write that would leave less fails with
	// ErrDiskFull and changes nothing. Badger writes through mmapped,
	// sparse files, and a page it cannot place on a full disk kills the
	// process (SIGBUS) instead of returning an error, so the store must not
	// get there. Default 256 MiB (room for badger's memtables and
	// compactions); negative turns the check off.
	MinFreeBytes int64
	// TrustReads skips re-hashing blocks as they are read. Default false:
	// every Get, View and ViewOnce hashes the block and compares it with
	// its CID, so no byte leaves the store unverified; a block that does
	// not match fails with ErrHashMismatch, is marked bad (BadBlocks) and
	// OnCorrupt is told. Only benchmarks of the store itself set it.
	TrustReads bool
	// OnCorrupt, when set, is called (on its own goroutine) with each block
	// a read or Scrub found not to match its CID, after it was marked bad:
	// the node repairs it from peers.
	OnCorrupt func(c cid.Cid)
	// Logger receives badger's messages (info as debug). Default slog.Default().
	Logger *slog.Logger
}

const (
	defaultMemTableSize     = 16 << 20
	defaultValueLogFileSize = 1536 << 20
	defaultMinFreeBytes     = 256 << 20
	// valueThreshold: values of at least this size go to the value log,
	// smaller ones stay in the LSM tree. Blocks of 1–16 KiB and manifests
	// go to the value log (larger blocks to packs); small dag-pb nodes,
	// pack locations, refs and pins stay in the LSM tree. Fixed, not an option: valueSize
	// relies on it to tell inline values from value-log pointers, so it
	// is part of the layout: changing it needs a new formatVersion.
	valueThreshold = 1 << 10
)

// Validate checks the options.
func (o Options) Validate() error {
	if !o.InMemory && o.Dir == "" {
		return errors.New("store options: Dir is required unless InMemory")
	}
	if o.InMemory && o.Dir != "" {
		return fmt.Errorf("store options: Dir %q given with InMemory", o.Dir)
	}
	if o.MemTableSize != 0 && (o.MemTableSize < 8<<20 || o.MemTableSize > 1<<30) {
		return fmt.Errorf("store options: MemTableSize %d outside [8 MiB, 1 GiB]", o.MemTableSize)
	}
	if o.ValueLogFileSize != 0 && (o.ValueLogFileSize < 80<<20 || o.ValueLogFileSize >= 2<<30) {
		return fmt.Errorf("store options: ValueLogFileSize %d outside [80 MiB, 2 GiB)", o.ValueLogFileSize)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.MemTableSize == 0 {
		o.MemTableSize = defaultMemTableSize
	}
	if o.ValueLogFileSize == 0 {
		o.ValueLogFileSize = defaultValueLogFileSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = defaultMinFreeBytes
	}
	return o
}

// badgerOptions tunes badger for a few thousand large values per GiB on a
// small machine (see doc.go, "Memory and speed").
func (o Options) badgerOptions() badger.Options {
	return badger.DefaultOptions(o.Dir).
		WithSyncWrites(o.SyncWrites).
		WithLogger(badgerLogger{o.Logger}).
		WithCompression(options.None).
		WithMetricsEnabled(false).
		WithValueThreshold(valueThreshold).
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithBlockCacheSize(0).
		WithIndexCacheSize(0).
		WithValueLogFileSize(o.ValueLogFileSize).
		WithNumCompactors(2).
		// Commit and DeleteRef read the repo's refs to decide whether a
		// manifest is orphaned; conflict detection makes racing ref moves
		// retry instead of leaving orphans (storetest ConcurrentCommits).
		WithDetectConflicts(true).
		WithNumGoroutines(min(runtime.GOMAXPROCS(0), 4))
}

// badgerLogger routes badger's log lines to slog; badger's info lines are
// chatty routine events, so they go out at debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(trim(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(trim(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug(trim(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Debugf(f string, a ...any) {
	b.l.Debug(trim(fmt.Sprintf(f, a...)), "component", "badger")
}

func trim(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	return s
}
