package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cairnhub/cairn/internal/direct"
)

// diskPass is the disk's part of a one-peer get of src's size: two
// writes (the getter's pack and its --out file) and, when the origin
// shares the disk (read), a read of src (the origin's packs), all at
// once, each a stream of 4 MiB direct requests one at a time, as dd
// iflag=direct or oflag=direct bs=4M moves them: what the disk alone
// takes for the bytes a get moves. dir is where the two scratch files go
// (removed after).
func diskPass(src string, read bool, dir string) (time.Duration, error) {
	st, err := os.Stat(src)
	if err != nil {
		return 0, err
	}
	size := st.Size()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	start := time.Now()
	if read {
		wg.Go(func() { errs[0] = directRead(src) })
	}
	for i := 1; i <= 2; i++ {
		wg.Go(func() { errs[i] = directWrite(filepath.Join(dir, fmt.Sprintf("disk%d.tmp", i)), size) })
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

// directRead reads path past the page cache, one request at a time.
func directRead(path string) error {
	f, err := direct.Open(path)
	if err != nil {
		return fmt.Errorf("disk reference: %w", err)
	}
	defer f.Close()
	buf := direct.Buf(4 << 20)
	for off := int64(0); ; off += int64(len(buf)) {
		_, err := f.ReadAt(buf, off)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("disk reference: %w", err)
		}
	}
}

// directWrite writes size bytes to a new file at path past the page
// cache, one request at a time as dd does, and removes it.
func directWrite(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_DIRECT, 0o644)
	if err != nil {
		return fmt.Errorf("disk reference: %w", err)
	}
	defer os.Remove(path)
	defer f.Close()
	buf := direct.Buf(4 << 20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		if _, err := f.WriteAt(buf[:direct.Up(min(int64(len(buf)), size-off))], off); err != nil {
			return fmt.Errorf("disk reference: %w", err)
		}
	}
	return nil
}

// diskBytes is what the block device holding dir has read and written
// since boot, from /sys/dev/block/M:m/stat (Linux); ok is false where
// that cannot be read.
func diskBytes(dir string) (read, written int64, ok bool) {
	var st syscall.Stat_t
	if syscall.Stat(dir, &st) != nil {
		return 0, 0, false
	}
	b, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/stat", unix.Major(st.Dev), unix.Minor(st.Dev)))
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 7 {
		return 0, 0, false
	}
	r, err1 := strconv.ParseInt(f[2], 10, 64) // sectors read
	w, err2 := strconv.ParseInt(f[6], 10, 64) // sectors written
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return r * 512, w * 512, true
}
