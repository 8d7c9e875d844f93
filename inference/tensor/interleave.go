package tensor

import (
	"encoding/binary"
	"fmt"
)

// Interleaved Q4_0 rows. A matrix held in memory it owns may have its Q4_0
// rows rearranged in tiles of interTile rows, block by block (see
// kernels_inter_amd64.s for the bytes), so that one 512-bit register holds
// four weight bytes of each of sixteen rows: an activation's four bytes are
// broadcast against all sixteen, and no sum crosses lanes. A decode step of
// eight sequences then expands each block once and multiplies it with each
// vector in eight instructions (0.21 against 0.34-0.53 CPU ns per block
// and vector for the lane kernels, BenchmarkInterLanes), and a lone step
// streams the tiles about as fast as plain rows (BenchmarkQ40Step).
//
// Words:
//   - tile: interTile consecutive rows, stored block by block.
//   - interleaved rows: the rows [0, inter) of a matrix, whole tiles; rows
//     from inter on keep the plain layout, at their usual offsets.
//
// Where the CPU has these kernels, every Q4_0 product sums in one order
// (the tile order), tiles and plain rows alike, whichever kernel and
// however many vectors: per block the exact integer sum of (q-8)*x,
// converted, times (dw*dx), added to the row's sum block after block
// (dotQ40Seq). MatVec, MatMul, MatMulBatch and MatMulEach give each vector
// the same bits, and a plain matrix the bits of its interleaved copy
// (TestInterleaveExact).

// interTile is the rows of a tile.
const interTile = 16

// interBlockBytes is one block of a tile: sixteen rows' blocks.
const interBlockBytes = interTile * q40B

// Interleave rearranges m's Q4_0 rows in tiles where this CPU has the
// kernels for them (AVX-512 VNNI and BW), in place, and reports whether it
// did.
// m.Data must be memory m owns and may write (a resident copy, not a
// mapping of the file): m.Data no longer holds rows in the GGUF layout.
// Row and RowData still return rows as before.
func (m *Matrix) Interleave() bool {
	if !useInter || m.Type != Q4_0 || m.inter > 0 || m.Rows < interTile || m.Cols < qk {
		return false
	}
	checkMat("Interleave", m)
	rb := m.rowBytes()
	tiles := m.Rows / interTile
	parallelFor(tiles, max(1, tiles/(4*workers())), func(lo, hi int) {
		tmp := make([]byte, interTile*rb)
		for t := lo; t < hi; t++ {
			tile := m.Data[t*interTile*rb : (t+1)*interTile*rb]
			copy(tmp, tile)
			interleaveTile(tile, tmp, rb)
		}
	})
	m.inter = tiles * interTile
	return true
}

// HasTiles reports whether this CPU has the tile kernels, so that
// Interleave rearranges Q4_0 matrices (and every Q4_0 product sums in the
// tile order).
func HasTiles() bool { return useInter }

// Interleaved is the number of rows in tiles (0: plain layout).
func (m *Matrix) Interleaved() int { return m.inter }

// interleaveTile writes the sixteen plain rows src (rb bytes each) to dst
// as a tile.
func interleaveTile(dst, src []byte, rb int) {
	le := binary.LittleEndian
	for b := range rb / q40B {
		out := dst[b*interBlockBytes : (b+1)*interBlockBytes]
		for r := range interTile {
			blk := src[r*rb+b*q40B : r*rb+(b+1)*q40B]
			le.PutUint16(out[2*r:], le.Uint16(blk))
			le.PutUint32(out[32+4*r:], le.Uint32(blk[2:]))
			le.PutUint32(out[96+4*r:], le.Uint32(blk[6:]))
			le.PutUint32(out[160+4*r:], le.Uint32(blk[10:]))
			le.PutUint32(out[224+4*r:], le.Uint32(blk[14:]))
		}
	}
}

// interRow gathers row r of a tile layout (rb bytes a plain row) from
// data, the matrix's bytes, into dst: interleaveTile undone for one row.
func interRow(dst, data []byte, r, rb int) {
	le := binary.LittleEndian
	t, l := r/interTile, r%interTile
	tile := data[t*interTile*rb : (t+1)*interTile*rb]
	for b := range rb / q40B {
		in := tile[b*interBlockBytes : (b+1)*interBlockBytes]
		blk := dst[b*q40B : (b+1)*q40B]
		le.PutUint16(blk, le.Uint16(in[2*l:]))
		le.PutUint32(blk[2:], le.Uint32(in[32+4*l:]))
		le.PutUint32(blk[6:], le.Uint32(in[96+4*l:]))
		le.PutUint32(blk[10:], le.Uint32(in[160+4*l:]))
		le.PutUint32(blk[14:], le.Uint32(in[224+4*l:]))
	}
}

// interChunk rounds a chunk of rows up to whole tiles where m has them, so
// that a chunk starts on a tile.
func (m *Matrix) interChunk(chunk int) int {
	if m.inter == 0 {
		return chunk
	}
	return (chunk + interTile - 1) / interTile * interTile
}

// interPlain is the matrix of m's rows after the tiles, in the plain
// layout.
func (m *Matrix) interPlain() *Matrix {
	rb := m.rowBytes()
	return &Matrix{Type: m.Type, Rows: m.Rows - m.inter, Cols: m.Cols, Data: m.Data[m.inter*rb : m.Rows*rb]}
}

// checkInter panics unless row lo, among m's tiles, starts one.
func checkInter(m *Matrix, lo int) {
	if lo < m.inter && lo%interTile != 0 {
		panic(fmt.Sprintf("tensor: rows from %d of an interleaved matrix do not start on a tile", lo))
	}
}

// dotQ40Seq continues a row's product in the tile kernels' order from
// block b0 on, acc the sum of the blocks before: per block the exact sum
// of (q-8)*x, converted, times (dw*dx), added, each operation rounded to
// float32. row holds the row's blocks in the plain layout.
func dotQ40Seq(row []byte, a *act, b0 int, acc float32) float32 {
	for b := b0; b < len(a.d); b++ {
		blk := row[b*q40B : (b+1)*q40B]
		y := a.qs[b*qk : (b+1)*qk]
		var s int32
		for j := range qk / 2 {
			s += (int32(blk[2+j]&0xf) - 8) * int32(y[j])
			s += (int32(blk[2+j]>>4) - 8) * int32(y[qk/2+j])
		}
		sc := float32(f16Table[uint16(blk[0])|uint16(blk[1])<<8] * a.d[b])
		acc = float32(acc + float32(float32(s)*sc))
	}
	return acc
}

// matMulPlainRows computes the rows after m's tiles for the n vectors of x
// (out n×Rows as MatMul), as MatVec computes them.
func matMulPlainRows(out []float32, m *Matrix, x []float32, n int) {
	if m.inter == m.Rows {
		return
	}
	sub := m.interPlain()
	tmp := make([]float32, n*sub.Rows)
	MatMulBatch(tmp, sub, x, n)
	for j := range n {
		copy(out[j*m.Rows+m.inter:(j+1)*m.Rows], tmp[j*sub.Rows:(j+1)*sub.Rows])
	}
}
