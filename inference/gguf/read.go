package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment is the data alignment when "general.alignment" is absent.
const DefaultAlignment = 32

// Limits on what the reader accepts, beyond fitting in the file.
const (
	maxDims        = 4
	maxArrayDepth  = 8
	maxKeyLen      = 1 << 16
	maxTensorNames = 1 << 16
)

// ErrFormat is wrapped by every error about a malformed file.
var ErrFormat = errors.New("malformed gguf")

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name string
	// Dims are the dimensions, ne[0] (row length) first.
	Dims []uint64
	Type TensorType
	// Offset is relative to the start of the data section.
	Offset uint64
	// Size is the tensor's size in bytes; -1 from ReadHeader for a type
	// this package does not know.
	Size int64
}

// Elements is the number of elements of the tensor.
func (ti *TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range ti.Dims {
		n *= d
	}
	return n
}

// File is a parsed GGUF file. Its methods are safe for concurrent use once
// returned; Close releases the mapping (if any) and must not be called while
// tensor data is still in use.
type File struct {
	Version   uint32
	KV        []KV
	Tensors   []TensorInfo
	Alignment uint64
	// DataOffset is the absolute file offset of the data section.
	DataOffset int64
	// Size is the file size in bytes.
	Size int64

	kvIndex     map[string]int
	tensorIndex map[string]int
	r           io.ReaderAt
	data        []byte // whole file when memory-mapped or read into memory
	owned       bool   // data is a private copy (ReadResident): see Owned
	closer      func() error
	cleanup     runtime.Cleanup
	headerOnly  bool // read by ReadHeader: no tensor data
}

// parser reads little-endian values from a bounded byte stream.
type parser struct {
	br   *bufio.Reader
	pos  int64
	size int64
	buf  [8]byte
	// header is set for ReadHeader: arrays and long strings are skipped
	// instead of decoded, and tensors of unknown type are accepted.
	header bool
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at offset %d: %s", ErrFormat, p.pos, fmt.Sprintf(format, args...))
}

func (p *parser) remaining() int64 { return p.size - p.pos }

func (p *parser) need(n int64, what string) error {
	if n < 0 || n > p.remaining() {
		return p.errorf("%s needs %d bytes, only %d left in file: runs past the end (truncated?)", what, n, p.remaining())
	}
	return nil
}

func (p *parser) read(n int, what string) ([]byte, error) {
	if err := p.need(int64(n), what); err != nil {
		return nil, err
	}
	b := p.buf[:n]
	if _, err := io.ReadFull(p.br, b); err != nil {
		return nil, p.errorf("reading %s: %v", what, err)
	}
	p.pos += int64(n)
	return b, nil
}

// skip discards n bytes.
func (p *parser) skip(n uint64, what string) error {
	if n > uint64(p.remaining()) {
		return p.errorf("%s of %d bytes runs past the end of the file (%d bytes left in file)", what, n, p.remaining())
	}
	for n > 0 {
		step := int(min(n, 1<<30))
		if _, err := p.br.Discard(step); err != nil {
			return p.errorf("reading %s: %v", what, err)
		}
		p.pos += int64(step)
		n -= uint64(step)
	}
	return nil
}

func (p *parser) u8(what string) (uint8, error) {
	b, err := p.read(1, what)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (p *parser) u16(what string) (uint16, error) {
	b, err := p.read(2, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(b), nil
}

func (p *parser) u32(what string) (uint32, error) {
	b, err := p.read(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (p *parser) u64(what string) (uint64, error) {
	b, err := p.read(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// strLen reads a string's length and checks it against the rest of the
// file.
func (p *parser) strLen(what string) (uint64, error) {
	n, err := p.u64(what + " length")
	if err != nil {
		return 0, err
	}
	if n > uint64(p.remaining()) {
		return 0, p.errorf("%s length %d runs past the end of the file (%d bytes left in file)", what, n, p.remaining())
	}
	return n, nil
}

// str reads a string of at most limit bytes (limit < 0: any that fits in
// the file); a longer one is an error, found before anything is allocated.
func (p *parser) str(what string, limit int) (string, error) {
	n, err := p.strLen(what)
	if err != nil {
		return "", err
	}
	if limit >= 0 && n > uint64(limit) {
		return "", p.errorf("%s is %d bytes long (at most %d)", what, n, limit)
	}
	return p.strBody(n, what)
}

func (p *parser) strBody(n uint64, what string) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(p.br, b); err != nil {
		return "", p.errorf("reading %s: %v", what, err)
	}
	p.pos += int64(n)
	return string(b), nil
}

// count reads an element count and checks that count elements of at least
// minSize bytes each fit in the rest of the file.
func (p *parser) count(what string, minSize int) (int, error) {
	n, err := p.u64(what)
	if err != nil {
		return 0, err
	}
	if minSize > 0 && n > uint64(p.remaining())/uint64(minSize) {
		return 0, p.errorf("%s %d cannot fit in the %d bytes left in file: runs past the end", what, n, p.remaining())
	}
	if n > math.MaxInt32 {
		return 0, p.errorf("%s %d is too large", what, n)
	}
	return int(n), nil
}

// initialCap bounds up-front slice allocation; slices grow as data is read.
func initialCap(n int) int { return min(n, 1<<16) }

// skipped stands for a metadata value ReadHeader skipped.
type skipped struct{}

func (p *parser) value(t ValueType, what string, depth int) (any, error) {
	switch t {
	case TypeString:
		return p.stringValue(what)
	case TypeArray:
		return p.arrayValue(what, depth)
	}
	return p.scalar(t, what)
}

func (p *parser) scalar(t ValueType, what string) (any, error) {
	switch t.fixedSize() {
	case 1:
		v, err := p.u8(what)
		if err != nil {
			return nil, err
		}
		return scalar8(t, v, p, what)
	case 2:
		v, err := p.u16(what)
		if t == TypeInt16 {
			return int16(v), err
		}
		return v, err
	case 4:
		v, err := p.u32(what)
		switch t {
		case TypeInt32:
			return int32(v), err
		case TypeFloat32:
			return math.Float32frombits(v), err
		}
		return v, err
	case 8:
		v, err := p.u64(what)
		switch t {
		case TypeInt64:
			return int64(v), err
		case TypeFloat64:
			return math.Float64frombits(v), err
		}
		return v, err
	}
	return nil, p.errorf("%s: unknown value type %d", what, uint32(t))
}

func scalar8(t ValueType, v uint8, p *parser, what string) (any, error) {
	switch t {
	case TypeInt8:
		return int8(v), nil
	case TypeBool:
		if v > 1 {
			return nil, p.errorf("%s: bool value %d is neither 0 nor 1", what, v)
		}
		return v == 1, nil
	}
	return v, nil
}

// maxHeaderString is the longest metadata string ReadHeader keeps.
const maxHeaderString = 1 << 16

func (p *parser) stringValue(what string) (any, error) {
	if !p.header {
		return p.str(what, -1)
	}
	n, err := p.strLen(what)
	if err != nil {
		return nil, err
	}
	if n > maxHeaderString {
		return skipped{}, p.skip(n, what)
	}
	return p.strBody(n, what)
}

func (p *parser) arrayValue(what string, depth int) (any, error) {
	if depth >= maxArrayDepth {
		return nil, p.errorf("%s: arrays nested deeper than %d", what, maxArrayDepth)
	}
	et, err := p.u32(what + " element type")
	if err != nil {
		return nil, err
	}
	elem := ValueType(et)
	if elem.minSize() < 0 {
		return nil, p.errorf("%s: unknown array element type %d", what, et)
	}
	n, err := p.count(what+" array length", elem.minSize())
	if err != nil {
		return nil, err
	}
	if p.header {
		return skipped{}, p.skipArray(elem, n, what, depth+1)
	}
	return p.array(elem, n, what, depth+1)
}

// skipArray reads past n elements of type elem without keeping them.
func (p *parser) skipArray(elem ValueType, n int, what string, depth int) error {
	if sz := elem.fixedSize(); sz > 0 {
		return p.skip(uint64(n)*uint64(sz), what) // count checked n*sz against the file
	}
	for i := 0; i < n; i++ {
		var err error
		if elem == TypeString {
			var l uint64
			if l, err = p.strLen(what); err == nil {
				err = p.skip(l, what)
			}
		} else {
			_, err = p.arrayValue(what, depth)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func readSlice[T any](p *parser, n int, elem ValueType, what string, depth int) ([]T, error) {
	out := make([]T, 0, initialCap(n))
	for i := 0; i < n; i++ {
		v, err := p.value(elem, what, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, v.(T))
	}
	return out, nil
}

func (p *parser) array(elem ValueType, n int, what string, depth int) (Array, error) {
	var (
		vals any
		err  error
	)
	switch elem {
	case TypeUint8:
		vals, err = readSlice[uint8](p, n, elem, what, depth)
	case TypeInt8:
		vals, err = readSlice[int8](p, n, elem, what, depth)
	case TypeUint16:
		vals, err = readSlice[uint16](p, n, elem, what, depth)
	case TypeInt16:
		vals, err = readSlice[int16](p, n, elem, what, depth)
	case TypeUint32:
		vals, err = readSlice[uint32](p, n, elem, what, depth)
	case TypeInt32:
		vals, err = readSlice[int32](p, n, elem, what, depth)
	case TypeFloat32:
		vals, err = readSlice[float32](p, n, elem, what, depth)
	case TypeBool:
		vals, err = readSlice[bool](p, n, elem, what, depth)
	case TypeString:
		vals, err = readSlice[string](p, n, elem, what, depth)
	case TypeUint64:
		vals, err = readSlice[uint64](p, n, elem, what, depth)
	case TypeInt64:
		vals, err = readSlice[int64](p, n, elem, what, depth)
	case TypeFloat64:
		vals, err = readSlice[float64](p, n, elem, what, depth)
	case TypeArray:
		vals, err = readSlice[Array](p, n, elem, what, depth)
	default:
		return Array{}, p.errorf("%s: unknown array element type %d", what, uint32(elem))
	}
	if err != nil {
		return Array{}, err
	}
	return Array{Elem: elem, Values: vals}, nil
}

// Read parses the GGUF file held by r, which is size bytes long. Tensor data
// is read from r on demand by TensorData.
func Read(r io.ReaderAt, size int64) (*File, error) {
	f, err := parse(r, size)
	if err != nil {
		return nil, err
	}
	f.r = r
	return f, nil
}

// ReadHeader reads the header of a GGUF file of size bytes from r: its
// metadata and tensor infos, checked as Read checks them, reading r
// sequentially up to the data section and no further. Memory stays in
// proportion to the header's keys, names and scalars, whatever the file
// claims: array values (the tokenizer's vocabulary, the bulk of a header)
// and strings over 64 KiB are read past and left out of KV, and a tensor of
// a type this package does not know is accepted with Size -1 (its extent
// unknown). Tensor names may repeat (Tensor finds the first): a header
// read is for laying out bytes, not for naming weights. The File has no
// tensor data: TensorData fails.
func ReadHeader(r io.Reader, size int64) (*File, error) {
	if size < 0 {
		return nil, fmt.Errorf("%w: negative size %d", ErrFormat, size)
	}
	p := &parser{br: bufio.NewReaderSize(io.LimitReader(r, size), 1<<16), size: size, header: true}
	return p.file()
}

func parse(r io.ReaderAt, size int64) (*File, error) {
	if size < 0 {
		return nil, fmt.Errorf("%w: negative size %d", ErrFormat, size)
	}
	p := &parser{br: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<16), size: size}
	return p.file()
}

// file reads a whole header: preamble, metadata, tensor infos, then places
// the data section.
func (p *parser) file() (*File, error) {
	f := &File{Size: p.size, Alignment: DefaultAlignment, headerOnly: p.header}
	nTensors, nKV, err := p.preamble(f)
	if err != nil {
		return nil, err
	}
	if err := p.metadata(f, nKV); err != nil {
		return nil, err
	}
	if err := f.setAlignment(); err != nil {
		return nil, err
	}
	if err := p.tensorInfos(f, nTensors); err != nil {
		return nil, err
	}
	if err := p.placeData(f); err != nil {
		return nil, err
	}
	return f, nil
}

// preamble reads the magic, the version and the two counts.
func (p *parser) preamble(f *File) (nTensors, nKV int, err error) {
	magic, err := p.read(4, "magic")
	if err != nil {
		return 0, 0, err
	}
	if string(magic) != Magic {
		return 0, 0, fmt.Errorf("%w: bad magic %q, want %q", ErrFormat, magic, Magic)
	}
	if f.Version, err = p.u32("version"); err != nil {
		return 0, 0, err
	}
	if f.Version != 2 && f.Version != 3 {
		return 0, 0, fmt.Errorf("%w: unsupported version %d (want 2 or 3)", ErrFormat, f.Version)
	}
	// A tensor info takes at least 8 (name) + 4 (n_dims) + 8 (one dim) + 4 (type) + 8 (offset) bytes.
	if nTensors, err = p.count("tensor count", 32); err != nil {
		return 0, 0, err
	}
	// A metadata entry takes at least 8 (key) + 4 (type) + 1 (value) bytes.
	if nKV, err = p.count("metadata count", 13); err != nil {
		return 0, 0, err
	}
	return nTensors, nKV, nil
}

// metadata reads nKV key/value pairs into f.
func (p *parser) metadata(f *File, nKV int) error {
	f.KV = make([]KV, 0, initialCap(nKV))
	f.kvIndex = make(map[string]int, initialCap(nKV))
	seen := make(map[string]struct{}) // keys of values ReadHeader skipped
	for i := 0; i < nKV; i++ {
		key, err := p.str(fmt.Sprintf("metadata key #%d", i), maxKeyLen)
		if err != nil {
			return err
		}
		_, dup := f.kvIndex[key]
		if _, skip := seen[key]; dup || skip {
			return p.errorf("duplicate metadata key %q", key)
		}
		t, err := p.u32(fmt.Sprintf("type of metadata %q", key))
		if err != nil {
			return err
		}
		v, err := p.value(ValueType(t), fmt.Sprintf("metadata %q", key), 0)
		if err != nil {
			return err
		}
		if _, ok := v.(skipped); ok {
			seen[key] = struct{}{}
			continue
		}
		f.kvIndex[key] = len(f.KV)
		f.KV = append(f.KV, KV{Key: key, Value: v})
	}
	return nil
}

// setAlignment applies "general.alignment" when present.
func (f *File) setAlignment() error {
	i, ok := f.kvIndex["general.alignment"]
	if !ok {
		return nil
	}
	a, ok := f.KV[i].Value.(uint32)
	if !ok {
		return fmt.Errorf("%w: general.alignment has type %T, want uint32", ErrFormat, f.KV[i].Value)
	}
	if a == 0 || a&(a-1) != 0 {
		return fmt.Errorf("%w: general.alignment %d is not a power of two", ErrFormat, a)
	}
	f.Alignment = uint64(a)
	return nil
}

// tensorInfos reads nTensors tensor infos into f.
func (p *parser) tensorInfos(f *File, nTensors int) error {
	f.Tensors = make([]TensorInfo, 0, initialCap(nTensors))
	f.tensorIndex = make(map[string]int, initialCap(nTensors))
	for i := 0; i < nTensors; i++ {
		ti, err := p.tensorInfo(i, f.Alignment)
		if err != nil {
			return err
		}
		if _, dup := f.tensorIndex[ti.Name]; dup {
			if !p.header {
				return p.errorf("duplicate tensor name %q", ti.Name)
			}
		} else {
			f.tensorIndex[ti.Name] = len(f.Tensors)
		}
		f.Tensors = append(f.Tensors, ti)
	}
	return nil
}

// tensorInfo reads tensor info #i.
func (p *parser) tensorInfo(i int, alignment uint64) (TensorInfo, error) {
	var ti TensorInfo
	var err error
	if ti.Name, err = p.str(fmt.Sprintf("tensor #%d name", i), maxTensorNames); err != nil {
		return ti, err
	}
	if ti.Dims, err = p.dims(ti.Name); err != nil {
		return ti, err
	}
	t, err := p.u32(fmt.Sprintf("tensor %q type", ti.Name))
	if err != nil {
		return ti, err
	}
	ti.Type = TensorType(t)
	if ti.Offset, err = p.u64(fmt.Sprintf("tensor %q offset", ti.Name)); err != nil {
		return ti, err
	}
	if p.header && !ti.Type.Known() {
		ti.Size = -1
	} else if ti.Size, err = TensorSize(ti.Type, ti.Dims); err != nil {
		return ti, p.errorf("tensor %q: %v", ti.Name, err)
	}
	if ti.Offset%alignment != 0 {
		return ti, p.errorf("tensor %q offset %d is not a multiple of the alignment %d", ti.Name, ti.Offset, alignment)
	}
	return ti, nil
}

// dims reads a tensor's dimension count and dimensions.
func (p *parser) dims(name string) ([]uint64, error) {
	nd, err := p.u32(fmt.Sprintf("tensor %q dimension count", name))
	if err != nil {
		return nil, err
	}
	if nd == 0 || nd > maxDims {
		return nil, p.errorf("tensor %q has %d dimensions (want 1..%d)", name, nd, maxDims)
	}
	dims := make([]uint64, nd)
	for d := range dims {
		if dims[d], err = p.u64(fmt.Sprintf("tensor %q dimension %d", name, d)); err != nil {
			return nil, err
		}
		if dims[d] > math.MaxInt32*8 {
			return nil, p.errorf("tensor %q dimension %d is %d, too large", name, d, dims[d])
		}
	}
	return dims, nil
}

// placeData sets the data section's offset and checks that every tensor of
// known size lies inside the file.
func (p *parser) placeData(f *File) error {
	data := (uint64(p.pos) + f.Alignment - 1) / f.Alignment * f.Alignment
	if len(f.Tensors) > 0 && data > uint64(p.size) {
		return fmt.Errorf("%w: data section would start at %d, past the end of the file (%d bytes)", ErrFormat, data, p.size)
	}
	f.DataOffset = int64(data)
	avail := uint64(max(p.size-f.DataOffset, 0))
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if ti.Size < 0 {
			if ti.Offset > avail {
				return fmt.Errorf("%w: tensor %q offset %d is past the end of the file (data section holds %d bytes)", ErrFormat, ti.Name, ti.Offset, avail)
			}
			continue
		}
		if ti.Offset > avail || uint64(ti.Size) > avail-ti.Offset {
			over := ti.Offset + uint64(ti.Size) - avail // no overflow: TensorSize < 2^62
			return fmt.Errorf("%w: tensor %q (offset %d, %d bytes) runs past the end of the file: overlaps it by %d bytes (data section holds %d bytes)", ErrFormat, ti.Name, ti.Offset, ti.Size, over, avail)
		}
	}
	return nil
}

// Close releases the file's memory mapping or descriptor, if any.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	c := f.closer
	f.closer = nil
	f.data = nil
	f.cleanup.Stop()
	return c()
}

// setCloser records how to release the file's memory or descriptor, also
// when the File becomes unreachable without Close (a forgotten Close must
// not leak a file-sized mapping). Slices from TensorData must not outlive
// the File.
func (f *File) setCloser(c func() error) {
	f.closer = c
	f.cleanup = runtime.AddCleanup(f, func(c func() error) { _ = c() }, c)
}

// Lookup returns the metadata value for key.
func (f *File) Lookup(key string) (any, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return nil, false
	}
	return f.KV[i].Value, true
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tensorIndex[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// TensorData returns the bytes of the named tensor. When the file is memory
// mapped (or held in memory) the slice aliases the mapping and must not be
// modified; otherwise the tensor is read from the underlying io.ReaderAt into
// a new slice.
func (f *File) TensorData(name string) ([]byte, error) {
	ti, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("tensor %q not found", name)
	}
	start := f.DataOffset + int64(ti.Offset)
	if f.data != nil {
		return f.data[start : start+ti.Size : start+ti.Size], nil
	}
	if f.headerOnly {
		return nil, fmt.Errorf("tensor %q: only the header was read", name)
	}
	if f.r == nil {
		return nil, fmt.Errorf("tensor %q: file is closed", name)
	}
	buf := make([]byte, ti.Size)
	if _, err := f.r.ReadAt(buf, start); err != nil {
		return nil, fmt.Errorf("reading tensor %q: %w", name, err)
	}
	return buf, nil
}

// Mapped reports whether tensor data aliases a memory mapping (or in-memory
// bytes) rather than being read on each TensorData call.
func (f *File) Mapped() bool { return f.data != nil }
