package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/config"
	"github.com/cairnhub/cairn/store"
)

// Node is an opened home: its config, identity and store.
type Node struct {
	Home     string
	Config   config.Config
	Identity crypto.PrivKey
	ID       peer.ID
	Store    *store.Store

	onCorrupt atomic.Pointer[func(cid.Cid)] // the daemon's repair worker
}

// Open loads the home in dir and opens its store. Close releases it.
func Open(_ context.Context, dir string) (*Node, error) {
	n, err := LoadHome(dir)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(store.Options{Dir: filepath.Join(dir, StoreDir), SyncWrites: n.Config.Store.SyncWrites, OnCorrupt: n.corrupted})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	n.Store = st
	return n, nil
}

// LoadHome loads config and identity without opening the store, for
// commands that only touch files of the home (membership, policy).
func LoadHome(dir string) (*Node, error) {
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoHome)
	}
	cfg, err := config.Load(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, err
	}
	key, err := LoadIdentity(dir)
	if err != nil {
		return nil, err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return &Node{Home: dir, Config: cfg.WithDefaults(), Identity: key, ID: id}, nil
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

// now is the clock membership checks use.
var now = time.Now
