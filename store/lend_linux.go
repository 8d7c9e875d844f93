package store

import (
	"errors"
	"fmt"

	directio "github.com/cairnhub/cairn/internal/direct"
	"golang.org/x/sys/unix"
)

// lend maps the pages holding the block at l read-only and returns its
// bytes in the mapping and the func that unmaps them. The pages are
// populated here (MADV_POPULATE_READ), so a read error of the disk is an
// error now rather than a fault later. Until then reclaim punches no hole
// in them (hold): a punched page would read as zeros after the check.
func (p *packs) lend(l packLoc) (b []byte, release func(), err error) {
	unhold := p.hold(l)
	defer func() {
		if err != nil {
			unhold()
		}
	}()
	f, err := p.file(l.pack, false)
	if err != nil {
		return nil, nil, err
	}
	sc, err := f.SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	lo, hi := directio.Down(l.off), directio.Up(l.end())
	var m []byte
	var merr error
	// Control keeps the descriptor open while it is mapped (remove may
	// close it at any moment).
	if err := sc.Control(func(fd uintptr) {
		m, merr = unix.Mmap(int(fd), lo, int(hi-lo), unix.PROT_READ, unix.MAP_SHARED)
	}); err != nil {
		return nil, nil, fmt.Errorf("map %s: %w", f.Name(), err)
	}
	if merr != nil {
		return nil, nil, fmt.Errorf("map %s at %d+%d: %w", f.Name(), l.off, l.n, merr)
	}
	unmap := func() {
		_ = unix.Munmap(m)
		unhold()
	}
	if err := unix.Madvise(m, unix.MADV_POPULATE_READ); err != nil && !errors.Is(err, unix.EINVAL) {
		// EINVAL: a kernel before 5.14; the pages fault in as read.
		unmap()
		return nil, nil, fmt.Errorf("read %s at %d+%d: %w", f.Name(), l.off, l.n, err)
	}
	return m[l.off-lo : l.end()-lo], unmap, nil
}
