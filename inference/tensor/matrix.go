package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Matrix is a row-major matrix stored in a GGML type: row r is
// Data[r*rowBytes:(r+1)*rowBytes]. In GGUF terms ne[0] = Cols, ne[1] = Rows.
// Data is only read, so it may be a view of a memory-mapped file; only
// Interleave, called by the owner of Data, rearranges it.
type Matrix struct {
	Type       Type
	Rows, Cols int
	Data       []byte
	inter      int // rows [0, inter) are in tiles (interleave.go)
}

// NewMatrix checks that data holds exactly rows rows of cols elements of type
// t and returns the matrix viewing it (data is not copied).
func NewMatrix(t Type, rows, cols int, data []byte) (*Matrix, error) {
	rb, err := RowBytes(t, cols)
	if err != nil {
		return nil, fmt.Errorf("new matrix: %w", err)
	}
	if rows < 0 {
		return nil, fmt.Errorf("new matrix %v: negative row count %d", t, rows)
	}
	if rb != 0 && rows > math.MaxInt/rb {
		return nil, fmt.Errorf("new matrix %v: %d rows of %d bytes overflow", t, rows, rb)
	}
	if want := rows * rb; len(data) != want {
		return nil, fmt.Errorf("new matrix %v %dx%d: data is %d bytes, want %d", t, rows, cols, len(data), want)
	}
	return &Matrix{Type: t, Rows: rows, Cols: cols, Data: data}, nil
}

// rowBytes is the size of one row; the matrix is assumed valid.
func (m *Matrix) rowBytes() int { return m.Cols / m.Type.BlockElems() * m.Type.BlockBytes() }

// RowData returns the bytes of row r in the GGUF layout: a view of Data,
// or for an interleaved row a copy gathered from its tile.
func (m *Matrix) RowData(r int) []byte {
	rb := m.rowBytes()
	if r < m.inter {
		row := make([]byte, rb)
		interRow(row, m.Data, r, rb)
		return row
	}
	return m.Data[r*rb : (r+1)*rb : (r+1)*rb]
}

// Row dequantizes row r into dst[:Cols] (an embedding lookup).
func (m *Matrix) Row(dst []float32, r int) {
	if r < 0 || r >= m.Rows {
		panic(fmt.Sprintf("tensor: Row(%d) of a %d-row matrix", r, m.Rows))
	}
	if len(dst) < m.Cols {
		panic(fmt.Sprintf("tensor: Row dst has %d elements, want %d", len(dst), m.Cols))
	}
	dequantizeRow(m.Type, dst[:m.Cols], m.RowData(r))
}

// Dequantize converts data, a whole number of blocks of type t, to float32.
func Dequantize(t Type, data []byte) ([]float32, error) {
	if !t.Supported() {
		return nil, fmt.Errorf("dequantize: type %v unsupported", t)
	}
	bb := t.BlockBytes()
	if len(data)%bb != 0 {
		return nil, fmt.Errorf("dequantize %v: %d bytes is not a multiple of the block size %d", t, len(data), bb)
	}
	out := make([]float32, len(data)/bb*t.BlockElems())
	dequantizeRow(t, out, data)
	return out, nil
}

// dequantizeRow converts the blocks in src to dst; len(dst) must match.
func dequantizeRow(t Type, dst []float32, src []byte) {
	switch t {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = f16Table[binary.LittleEndian.Uint16(src[2*i:])]
		}
	case BF16:
		for i := range dst {
			dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case Q8_0:
		for b := 0; b < len(dst)/qk; b++ {
			blk := src[b*q80B : (b+1)*q80B]
			d := f16Table[binary.LittleEndian.Uint16(blk)]
			y := dst[b*qk : (b+1)*qk]
			for j := range y {
				y[j] = float32(int8(blk[2+j])) * d
			}
		}
	case Q4_0:
		for b := 0; b < len(dst)/qk; b++ {
			blk := src[b*q40B : (b+1)*q40B]
			d := f16Table[binary.LittleEndian.Uint16(blk)]
			y := dst[b*qk : (b+1)*qk]
			for j := 0; j < qk/2; j++ {
				y[j] = float32(int(blk[2+j]&0xf)-8) * d
				y[j+qk/2] = float32(int(blk[2+j]>>4)-8) * d
			}
		}
	case Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, IQ4_XS:
		dequantizeBlocks(t, dst, src)
	case Q4_K:
		for b := 0; b < len(dst)/qkK; b++ {
			dequantQ4KBlock(dst[b*qkK:(b+1)*qkK], src[b*q4KB:(b+1)*q4KB])
		}
	case Q5_K:
		for b := 0; b < len(dst)/qkK; b++ {
			dequantQ5KBlock(dst[b*qkK:(b+1)*qkK], src[b*q5KB:(b+1)*q5KB])
		}
	case Q6_K:
		for b := 0; b < len(dst)/qkK; b++ {
			dequantQ6KBlock(dst[b*qkK:(b+1)*qkK], src[b*q6KB:(b+1)*q6KB])
		}
	default:
		panic("tensor: dequantize of unsupported type " + t.String())
	}
}

// dequantizeBlocks converts the blocks of the types added beside the
// original ones, one block function each.
func dequantizeBlocks(t Type, dst []float32, src []byte) {
	var f func(y []float32, blk []byte)
	switch t {
	case Q4_1:
		f = dequantQ41Block
	case Q5_0:
		f = dequantQ50Block
	case Q5_1:
		f = dequantQ51Block
	case IQ4_NL:
		f = dequantIQ4NLBlock
	case Q2_K:
		f = dequantQ2KBlock
	case Q3_K:
		f = dequantQ3KBlock
	case IQ4_XS:
		f = dequantIQ4XSBlock
	}
	be, bb := t.BlockElems(), t.BlockBytes()
	for b := 0; b < len(dst)/be; b++ {
		f(dst[b*be:(b+1)*be], src[b*bb:(b+1)*bb])
	}
}

// scaleMinK4 unpacks the 6-bit scale and min of sub-block j from the 12
// packed bytes of a Q4_K super-block (ggml's get_scale_min_k4).
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

func dequantQ4KBlock(y []float32, blk []byte) {
	d := f16Table[binary.LittleEndian.Uint16(blk[0:])]
	dmin := f16Table[binary.LittleEndian.Uint16(blk[2:])]
	scales := blk[4:16]
	qs := blk[16:144]
	for c := 0; c < 4; c++ { // 64 elements per 32 bytes of qs
		sc1, m1 := scaleMinK4(2*c, scales)
		sc2, m2 := scaleMinK4(2*c+1, scales)
		d1, mm1 := d*float32(sc1), dmin*float32(m1)
		d2, mm2 := d*float32(sc2), dmin*float32(m2)
		q := qs[32*c : 32*c+32]
		for l := 0; l < 32; l++ {
			y[64*c+l] = d1*float32(q[l]&0xf) - mm1
			y[64*c+32+l] = d2*float32(q[l]>>4) - mm2
		}
	}
}

// dequantQ5KBlock decodes one block_q5_K: f16 d at 0, f16 dmin at 2, the
// 12 packed 6-bit scales and mins of Q4_K at 4, qh[32] at 16, qs[128] at 48.
// Sub-block j (elements 32j..32j+31) takes its low nibbles from
// qs[32*(j/2):], the low nibble of each byte for even j and the high nibble
// for odd j, and its fifth bit from bit j of qh[l] (ggml's
// dequantize_row_q5_K); element 32j+l = d*scale_j*q - dmin*min_j.
func dequantQ5KBlock(y []float32, blk []byte) {
	d := f16Table[binary.LittleEndian.Uint16(blk[0:])]
	dmin := f16Table[binary.LittleEndian.Uint16(blk[2:])]
	scales := blk[4:16]
	qh := blk[16:48]
	qs := blk[48:176]
	for c := 0; c < 4; c++ {
		sc1, m1 := scaleMinK4(2*c, scales)
		sc2, m2 := scaleMinK4(2*c+1, scales)
		d1, mm1 := d*float32(sc1), dmin*float32(m1)
		d2, mm2 := d*float32(sc2), dmin*float32(m2)
		q := qs[32*c : 32*c+32]
		for l := 0; l < 32; l++ {
			h1 := (qh[l] >> (2 * c) & 1) << 4
			h2 := (qh[l] >> (2*c + 1) & 1) << 4
			y[64*c+l] = d1*float32(q[l]&0xf|h1) - mm1
			y[64*c+32+l] = d2*float32(q[l]>>4|h2) - mm2
		}
	}
}

func dequantQ6KBlock(y []float32, blk []byte) {
	d := f16Table[binary.LittleEndian.Uint16(blk[208:])]
	for n := 0; n < 2; n++ {
		ql := blk[64*n : 64*n+64]
		qh := blk[128+32*n : 128+32*n+32]
		sc := blk[192+8*n : 192+8*n+8]
		yy := y[128*n : 128*n+128]
		for l := 0; l < 32; l++ {
			is := l / 16
			q1 := int(ql[l]&0xf|(qh[l]&3)<<4) - 32
			q2 := int(ql[l+32]&0xf|((qh[l]>>2)&3)<<4) - 32
			q3 := int(ql[l]>>4|((qh[l]>>4)&3)<<4) - 32
			q4 := int(ql[l+32]>>4|((qh[l]>>6)&3)<<4) - 32
			yy[l] = d * float32(int8(sc[is])) * float32(q1)
			yy[l+32] = d * float32(int8(sc[is+2])) * float32(q2)
			yy[l+64] = d * float32(int8(sc[is+4])) * float32(q3)
			yy[l+96] = d * float32(int8(sc[is+6])) * float32(q4)
		}
	}
}
