// Package disk answers the two questions the store and the replicator ask of
// the file system: how much may still be written, and how much a file
// really takes.
//
// Words:
//   - Free: the bytes an unprivileged writer may still write to the file
//     system holding a path (statfs's available blocks, not its free ones:
//     the root reserve is not ours to fill).
//   - Allocated: the disk space a file takes, which is less than its size
//     when it is sparse or has punched holes.
//
// Callers: store (the free-space check before writes, disk usage in Stat
// and GC) and replicate.DiskFree (the capacity a node reports).
package disk
