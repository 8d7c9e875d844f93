package node

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"

	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/config"
	"github.com/cairnhub/cairn/home"
	"github.com/cairnhub/cairn/store"
)

// Node is an opened home (its folder, identity, membership files, policy
// and audit log): its config and store.
type Node struct {
	*home.Home
	Config config.Config
	Store  *store.Store

	onCorrupt atomic.Pointer[func(cid.Cid)] // the daemon's repair worker
}

// Open loads the home in dir and opens its store. Close releases it.
func Open(_ context.Context, dir string) (*Node, error) {
	n, err := LoadHome(dir)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(store.Options{Dir: filepath.Join(dir, home.StoreDir), SyncWrites: n.Config.Store.SyncWrites, OnCorrupt: n.corrupted})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	n.Store = st
	return n, nil
}

// LoadHome loads config and identity without opening the store, for
// commands that only touch files of the home (membership, policy).
func LoadHome(dir string) (*Node, error) {
	h, err := home.Load(dir)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(filepath.Join(dir, home.ConfigFile))
	if err != nil {
		return nil, err
	}
	return &Node{Home: h, Config: cfg.WithDefaults()}, nil
}

// Close releases the store.
func (n *Node) Close() error {
	if n.Store == nil {
		return nil
	}
	if err := n.Store.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// corrupted passes the store's report of a bad block to the daemon.
func (n *Node) corrupted(c cid.Cid) {
	if f := n.onCorrupt.Load(); f != nil {
		(*f)(c)
	}
}

// setOnCorrupt sets (nil: clears) where bad blocks are reported.
func (n *Node) setOnCorrupt(f func(cid.Cid)) {
	if f == nil {
		n.onCorrupt.Store(nil)
		return
	}
	n.onCorrupt.Store(&f)
}
