// Command bench measures Cairn's import figures (issue 2) against references
// measured in the same run.
//
//	go run ./bench import -size 1GiB   # throughput vs one crypto/sha256 pass, peak RSS
//	go run ./bench import -size 4GiB   # the memory figure (peak RSS under 300 MiB)
//	go run ./bench dedup               # new bytes of a fine-tuned safetensors file
//
// import writes a synthetic safetensors file (random tensors shaped like a
// llama layer stack) into a temporary directory, reads it once so the page
// cache is warm, times crypto/sha256 over the file, then imports it with
// chunker.ImportFile into a fresh badger store (package store) and prints
// MB/s, the ratio to sha256, and the process's peak RSS (VmHWM).
//
// dedup imports two safetensors files of the same tensors, the second with
// 10% of the tensors changed and one more __metadata__ entry (so every data
// offset shifts), and prints the new bytes of the second import as a
// percentage of its size for tensor-aware, plain CDC and fixed 256 KiB
// chunking.
package main
