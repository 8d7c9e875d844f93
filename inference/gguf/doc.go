// Package gguf reads and writes GGUF files, the container llama.cpp uses for
// model weights.
//
// Words used here:
//
//   - header: magic "GGUF", version (2 or 3), tensor count and metadata count.
//   - metadata (KV): typed key/value pairs such as "general.architecture" or
//     "tokenizer.ggml.tokens". Values are decoded to Go values: uint8, int8,
//     uint16, int16, uint32, int32, uint64, int64, float32, float64, bool,
//     string, or an Array.
//   - tensor info: a tensor's name, dimensions (ne[0] first, the fastest
//     varying one, i.e. the row length), ggml type id and offset relative to
//     the data section.
//   - data section: starts at the first multiple of the alignment
//     ("general.alignment", default 32) after the tensor infos; every tensor
//     offset is a multiple of the alignment too.
//
// Every count, length and offset read from a file is checked against the file
// size before anything is allocated for it, so a malformed or hostile file
// yields an error naming the problem, never a panic or a huge allocation.
//
// Open memory-maps the file where the platform allows (weights are then not
// copied into the Go heap); Read works on any io.ReaderAt. ReadHeader reads
// only the header, from any io.Reader, in memory bounded by the header's
// names and scalars (arrays and long strings are read past): the chunker
// lays a file out with it, inference loads weights with the others; one
// reader and one type table serve both.
package gguf
