// Package direct writes and reads files past the page cache (O_DIRECT on
// Linux), through Linux AIO where the kernel allows.
//
// Words:
//   - Direct I/O: reads and writes that move bytes between the process's
//     buffer and the device without the page cache. Offsets, lengths and
//     buffer addresses must be multiples of Align.
//   - Fresh page: a page-cache page for bytes new to the cache. On the VMs
//     Cairn is measured on, placing fresh pages costs 1.7-2.7 s of kernel
//     time per GiB (memory the hypervisor took back must be faulted in
//     again), against 0.06 s for writing the same GiB directly. Bulk
//     writes of bytes nobody will read soon (block packs, bundles) go
//     direct for that reason, and so do not evict what other readers
//     keep in the page cache.
//   - AIO: Linux native asynchronous I/O (io_submit(2)). The process's
//     direct reads (ReadAt) and every Writer's writes go through one AIO
//     context, so a goroutine waiting on the disk parks, as it would on a
//     socket, instead of holding one of the Go scheduler's GOMAXPROCS
//     slots for the whole system call. ext4 still completes a write that
//     extends its file inside io_submit; Allocate a file's size first
//     where it is known.
//
// Where the file system refuses O_DIRECT (tmpfs on old kernels, other
// systems than Linux) files are opened for buffered I/O and every call
// works the same, only slower.
package direct
