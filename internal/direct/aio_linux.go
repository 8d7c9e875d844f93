package direct

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// AIO reads and writes files opened for direct I/O through Linux native
// AIO (io_submit(2)), so that an I/O blocks only the goroutine waiting
// for it. A goroutine in pread(2) or pwrite(2) keeps its scheduler slot
// (P) for the whole I/O unless the runtime's monitor takes the slot back,
// which it does late (it sleeps up to 10 ms when it finds little to do):
// in `bench get`, with two Ps each, a fetch server's reads held its Ps
// half the time and the receiver's output and pack writes a fifth of
// its, while their sending, receiving and hashing goroutines waited.
// Completions arrive on an eventfd that Go's network poller watches.
//
// An I/O AIO cannot take (the queue full, the kernel refusing) is done
// with pread(2) or pwrite(2) instead. A nil *AIO does them all so.
type AIO struct {
	ctx uintptr  // aio_context_t
	efd *os.File // completions: the kernel adds one per finished I/O

	mu       sync.Mutex
	ops      map[uint64]*aioOp // I/Os in flight, by aio_data
	next     uint64
	closed   bool
	inflight sync.WaitGroup // I/Os submitted and not yet handed out
	reaped   chan struct{}  // closed when the reaping goroutine ends
	done     atomic.Int64   // I/Os AIO completed
}

type aioOp struct {
	buf  []byte // kept alive while the kernel writes it
	res  int64
	done chan struct{}
}

// iocb is the kernel's struct iocb (64 bytes, little-endian layout);
// the blank fields (aio_key, aio_rw_flags, aio_reqprio, aio_reserved2)
// stay zero.
type iocb struct {
	data   uint64
	_      uint32
	_      uint32
	opcode uint16
	_      int16
	fd     uint32
	buf    uint64
	nbytes uint64
	offset int64
	_      uint64
	flags  uint32
	resfd  uint32
}

// ioEvent is the kernel's struct io_event.
type ioEvent struct {
	data uint64
	obj  uint64
	res  int64
	res2 int64
}

const (
	iocbCmdPread  = 0
	iocbCmdPwrite = 1
	iocbFlagRes   = 1 << 0 // IOCB_FLAG_RESFD: signal resfd on completion
)

// NewAIO sets up an AIO context for up to depth I/Os in flight. Where the
// kernel or a sandbox refuses AIO, it returns an error (and a nil *AIO
// does plain system calls).
func NewAIO(depth int) (*AIO, error) {
	var ctx uintptr
	if _, _, e := unix.Syscall(unix.SYS_IO_SETUP, uintptr(depth), uintptr(unsafe.Pointer(&ctx)), 0); e != 0 {
		return nil, fmt.Errorf("io_setup: %w", e)
	}
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Syscall(unix.SYS_IO_DESTROY, ctx, 0, 0)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	r := &AIO{ctx: ctx, efd: os.NewFile(uintptr(fd), "aio-eventfd"), ops: map[uint64]*aioOp{}, reaped: make(chan struct{})}
	go r.reap()
	return r, nil
}

// ReadAt reads len(b) bytes of f at off, as f.ReadAt does; with direct
// I/O, b, off and len(b) are aligned.
func (r *AIO) ReadAt(f *os.File, b []byte, off int64) (int, error) {
	n, ok, err := r.do(f, iocbCmdPread, b, off)
	switch {
	case !ok:
		return f.ReadAt(b, off)
	case err == nil && n < len(b):
		return n, io.EOF
	}
	return n, err
}

// WriteAt writes b to f at off, as f.WriteAt does; with direct I/O, b,
// off and len(b) are aligned.
func (r *AIO) WriteAt(f *os.File, b []byte, off int64) (int, error) {
	n, ok, err := r.do(f, iocbCmdPwrite, b, off)
	switch {
	case !ok:
		return f.WriteAt(b, off)
	case err == nil && n < len(b):
		// Short, as pwrite(2) may be; os.File.WriteAt would go on.
		m, err := f.WriteAt(b[n:], off+int64(n))
		return n + m, err
	}
	return n, err
}

// do runs one I/O through AIO and waits for it; ok is false when AIO did
// not take it (nil r, nothing to do, the queue full, the kernel refusing).
func (r *AIO) do(f *os.File, cmd uint16, b []byte, off int64) (n int, ok bool, err error) {
	if r == nil || len(b) == 0 {
		return 0, false, nil
	}
	op, ok := r.submit(f, cmd, b, off)
	if !ok {
		return 0, false, nil
	}
	<-op.done
	if op.res < 0 {
		name := "read"
		if cmd == iocbCmdPwrite {
			name = "write"
		}
		return 0, true, &os.PathError{Op: name, Path: f.Name(), Err: unix.Errno(-op.res)}
	}
	return int(op.res), true, nil
}

// submit hands one I/O to the kernel; false when it did not take it.
func (r *AIO) submit(f *os.File, cmd uint16, b []byte, off int64) (*aioOp, bool) {
	op := &aioOp{buf: b, done: make(chan struct{})}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, false
	}
	r.next++
	id := r.next
	r.ops[id] = op
	r.inflight.Add(1)
	r.mu.Unlock()
	cb := &iocb{data: id, opcode: cmd, fd: uint32(f.Fd()), buf: uint64(uintptr(unsafe.Pointer(&b[0]))),
		nbytes: uint64(len(b)), offset: off, flags: iocbFlagRes, resfd: uint32(r.efd.Fd())}
	cbs := [1]*iocb{cb}
	n, _, e := unix.Syscall(unix.SYS_IO_SUBMIT, r.ctx, 1, uintptr(unsafe.Pointer(&cbs[0])))
	runtime.KeepAlive(cbs)
	runtime.KeepAlive(f)
	if e != 0 || n != 1 {
		r.mu.Lock()
		delete(r.ops, id)
		r.mu.Unlock()
		r.inflight.Done()
		return nil, false
	}
	return op, true
}

// reap waits on the eventfd (in the network poller, holding no P) and
// hands every finished I/O to its waiter, until Close. The kernel adds
// an event to the ring before it signals the eventfd, so each wake takes
// every event there is.
func (r *AIO) reap() {
	defer close(r.reaped)
	var cnt [8]byte
	evs := make([]ioEvent, 64)
	zero := unix.Timespec{}
	for {
		if _, err := r.efd.Read(cnt[:]); err != nil {
			return
		}
		for {
			n, _, e := unix.Syscall6(unix.SYS_IO_GETEVENTS, r.ctx, 0, uintptr(len(evs)),
				uintptr(unsafe.Pointer(&evs[0])), uintptr(unsafe.Pointer(&zero)), 0)
			if e != 0 || n == 0 {
				break
			}
			r.finish(evs[:n])
		}
	}
}

func (r *AIO) finish(evs []ioEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range evs {
		if op := r.ops[ev.data]; op != nil {
			delete(r.ops, ev.data)
			op.res = ev.res
			close(op.done)
			r.inflight.Done()
			r.done.Add(1)
		}
	}
}

// Close waits for the I/Os in flight and frees the context; later ones
// are plain system calls.
func (r *AIO) Close() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.inflight.Wait()
	_, _, e := unix.Syscall(unix.SYS_IO_DESTROY, r.ctx, 0, 0)
	r.efd.Close()
	<-r.reaped
	if e != 0 {
		return fmt.Errorf("io_destroy: %w", e)
	}
	return nil
}

// shared is the process's AIO context, set up on first use (nil where
// refused); the package's ReadAt and every Writer use it.
var shared = sync.OnceValue(func() *AIO {
	a, _ := NewAIO(sharedDepth)
	return a
})

// sharedDepth bounds the I/Os in flight through the shared context; more
// are plain system calls. A fetch server reads at most 32 blocks ahead
// in all, and a Writer keeps two writes in flight. The kernel reserves
// about twice this of the host's fs.aio-max-nr (65536 by default) per
// process, so a hundred daemons on one host still get a context.
const sharedDepth = 128
