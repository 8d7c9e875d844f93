package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"syscall"
)

// A materialised file is trusted without re-hashing only while it is the
// file that was last hashed whole: its size, modification time and inode
// are recorded beside it (<sha256>.gguf.verified) after a full hash, as
// git's index does for its worktree. Any change (a bit flipped by an
// editor, a copy over it) makes the next load hash it again, and a file
// that no longer matches its manifest sha256 is written out anew.

const stampSuffix = ".verified"

// stamp identifies one version of a file on disk.
type stamp struct {
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtime_ns"`
	Inode   uint64 `json:"inode"`
}

func stampOf(fi os.FileInfo) stamp {
	s := stamp{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.Inode = st.Ino
	}
	return s
}

// verified reports whether path is the file hashed when its stamp was
// written, with the size the manifest gives.
func verified(path string, size int64) bool {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != size {
		return false
	}
	b, err := os.ReadFile(path + stampSuffix)
	if err != nil {
		return false
	}
	var s stamp
	return json.Unmarshal(b, &s) == nil && s == stampOf(fi)
}

// writeStamp records path's current version as hashed whole.
func writeStamp(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(stampOf(fi))
	tmp := path + stampSuffix + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path+stampSuffix)
}

// rehash hashes path whole and, when it matches sum, stamps it.
func rehash(path, sum string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, fmt.Errorf("hash %s: %w", path, err)
	}
	if hex.EncodeToString(h.Sum(nil)) != sum {
		return false, nil
	}
	return true, writeStamp(path)
}
