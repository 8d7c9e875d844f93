package home

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cairnhub/cairn/config"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Files and folders of a home.
const (
	ConfigFile     = "config.yaml"
	IdentityFile   = "identity.key"
	StoreDir       = "store"
	CertFile       = "member.cert"   // this node's certificate
	TrustDir       = "trust"         // trusted organisation keys, one *.pub file each
	RevocationsDir = "revocations"   // signed revocation lists, *.signed
	PolicyFile     = "policy.signed" // the signed residency policy in force
	AuditFile      = "audit.log"
	// ModelsDir holds GGUF files materialised from the store for the
	// inference engine, named <sha256>.gguf.
	ModelsDir       = "models"
	orgPubExtension = ".pub"
)

// Home is an opened home: its folder and the node's identity.
type Home struct {
	Dir      string
	Identity crypto.PrivKey
	ID       peer.ID
}

// Load opens the home in dir: it must hold a config file and an identity.
func Load(dir string) (*Home, error) {
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoHome)
	}
	key, err := LoadIdentity(dir)
	if err != nil {
		return nil, err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return &Home{Dir: dir, Identity: key, ID: id}, nil
}

// ErrNoHome means the home has not been created with `cairn init`.
var ErrNoHome = errors.New("no cairn home here (run `cairn init` first)")

// ErrHomeExists means `cairn init` found a home already.
var ErrHomeExists = errors.New("a cairn home exists already")

// Init creates a node home in dir: config.yaml with every default written
// out, a new ed25519 libp2p identity, and an empty store folder. It refuses
// a dir that already holds a config or an identity, and changes nothing
// then.
func Init(dir string) (peer.ID, error) {
	for _, f := range []string{ConfigFile, IdentityFile, StoreDir} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			return "", fmt.Errorf("init %s: %w (%s is there)", dir, ErrHomeExists, f)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("init %s: %w", dir, err)
	}
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("init: identity: %w", err)
	}
	raw, err := crypto.MarshalPrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("init: identity: %w", err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("init: identity: %w", err)
	}
	if err := writeNew(filepath.Join(dir, IdentityFile), raw, 0o600); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	if err := writeNew(filepath.Join(dir, ConfigFile), []byte(config.DefaultYAML), 0o644); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	if err := os.Mkdir(filepath.Join(dir, StoreDir), 0o700); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	return id, nil
}

// writeNew writes a file that must not exist yet, via a temporary file, so
// a crash leaves either nothing or the whole file.
func writeNew(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	f, err := os.Open(tmp)
	if err == nil {
		err = f.Sync()
		f.Close()
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", path, os.ErrExist)
	}
	return os.Rename(tmp, path)
}

// LoadIdentity reads the node's libp2p private key.
func LoadIdentity(dir string) (crypto.PrivKey, error) {
	raw, err := os.ReadFile(filepath.Join(dir, IdentityFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoHome)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	k, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", filepath.Join(dir, IdentityFile), err)
	}
	return k, nil
}
