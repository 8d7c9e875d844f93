//go:build !unix

package chunker

func allocBuf(n int) []byte { return make([]byte, n) }

func freeBuf([]byte) {}
