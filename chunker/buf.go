package chunker

// Batch buffers live outside the Go heap where the platform allows (see
// buf_unix.go): they are the bulk of an import's memory, and on the heap
// they would also raise the garbage collector's target (live heap times
// two), letting the store's garbage grow with them. Idle buffers are kept
// for the next import, up to one import's worth.

const bufSize = batchSize + MaxBlockSize

var freeBufs = make(chan []byte, 8)

// getBuf returns a buffer of at least n bytes (n <= bufSize).
func getBuf(n int) []byte {
	if n < MaxBlockSize {
		return make([]byte, n)
	}
	select {
	case b := <-freeBufs:
		return b
	default:
		return allocBuf(bufSize)
	}
}

// putBuf returns a buffer obtained from getBuf. Nothing may use it after.
func putBuf(b []byte) {
	if len(b) != bufSize {
		return // a small heap buffer: the GC takes it
	}
	select {
	case freeBufs <- b:
	default:
		freeBuf(b)
	}
}
