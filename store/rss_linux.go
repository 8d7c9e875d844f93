//go:build linux

package store

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseMapped drops this process's page mappings of the store's
// value-log files. Badger keeps every value-log file mmapped and writes
// values by copying them into the mapping, so without this every byte
// imported or read stays counted in the process's resident set (4 GiB
// imported = 4 GiB RSS) until the kernel is short of memory. The files are
// MAP_SHARED: MADV_DONTNEED unmaps the pages but leaves them, dirty ones
// included, in the page cache, so no data is lost and the next access just
// maps the page again. dir must be absolute with symlinks resolved, as the
// kernel shows paths.
func releaseMapped(dir string) error {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return fmt.Errorf("release mapped value log: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// start-end perms offset dev inode path; only the path holds '/'
		// (and may hold spaces). Files being deleted end in " (deleted)".
		line := sc.Bytes()
		slash := bytes.IndexByte(line, '/')
		if slash < 0 {
			continue
		}
		path := string(line[slash:])
		if !strings.HasSuffix(path, ".vlog") || filepath.Dir(path) != dir {
			continue
		}
		addr, _, _ := bytes.Cut(line, []byte{' '})
		lo, hi, ok := bytes.Cut(addr, []byte{'-'})
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("release mapped value log %s: madvise: %w", path, errno)
		}
	}
	return nil
}
