package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Tensor is a tensor to write. Exactly one of Data and WriteData supplies
// its bytes; WriteData lets large tensors be streamed without holding them
// in memory and must write exactly the tensor's size.
type Tensor struct {
	Name      string
	Type      TensorType
	Dims      []uint64
	Data      []byte
	WriteData func(w io.Writer) error
}

// Write writes a version 3 GGUF file holding meta and tensors, in that order.
// The alignment is meta's "general.alignment" (a uint32) when present, else 32.
func Write(w io.Writer, meta []KV, tensors []Tensor) error {
	align := uint64(DefaultAlignment)
	for _, kv := range meta {
		if kv.Key == "general.alignment" {
			a, ok := kv.Value.(uint32)
			if !ok || a == 0 || a&(a-1) != 0 {
				return fmt.Errorf("gguf write: general.alignment must be a uint32 power of two, got %v", kv.Value)
			}
			align = uint64(a)
		}
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	cw := &countWriter{w: bw}
	e := &encoder{w: cw}
	e.raw([]byte(Magic))
	e.u32(3)
	e.u64(uint64(len(tensors)))
	e.u64(uint64(len(meta)))
	for _, kv := range meta {
		t, err := valueTypeOf(kv.Value)
		if err != nil {
			return fmt.Errorf("gguf write: metadata %q: %w", kv.Key, err)
		}
		e.str(kv.Key)
		e.u32(uint32(t))
		if err := e.value(kv.Value); err != nil {
			return fmt.Errorf("gguf write: metadata %q: %w", kv.Key, err)
		}
	}
	sizes := make([]int64, len(tensors))
	var off uint64
	for i, t := range tensors {
		size, err := TensorSize(t.Type, t.Dims)
		if err != nil {
			return fmt.Errorf("gguf write: tensor %q: %w", t.Name, err)
		}
		if len(t.Dims) > maxDims {
			return fmt.Errorf("gguf write: tensor %q has %d dimensions", t.Name, len(t.Dims))
		}
		if t.WriteData == nil && int64(len(t.Data)) != size {
			return fmt.Errorf("gguf write: tensor %q has %d bytes of data, want %d", t.Name, len(t.Data), size)
		}
		sizes[i] = size
		e.str(t.Name)
		e.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			e.u64(d)
		}
		e.u32(uint32(t.Type))
		e.u64(off)
		off += (uint64(size) + align - 1) / align * align
	}
	if e.err != nil {
		return fmt.Errorf("gguf write: %w", e.err)
	}
	pad := func() {
		if r := uint64(cw.n) % align; r != 0 {
			e.raw(make([]byte, align-r))
		}
	}
	pad()
	for i, t := range tensors {
		start := cw.n
		if t.WriteData != nil {
			if err := t.WriteData(cw); err != nil {
				return fmt.Errorf("gguf write: tensor %q: %w", t.Name, err)
			}
		} else {
			e.raw(t.Data)
		}
		if e.err == nil && cw.err == nil && cw.n-start != sizes[i] {
			return fmt.Errorf("gguf write: tensor %q: wrote %d bytes, want %d", t.Name, cw.n-start, sizes[i])
		}
		pad()
	}
	if e.err != nil {
		return fmt.Errorf("gguf write: %w", e.err)
	}
	if cw.err != nil {
		return fmt.Errorf("gguf write: %w", cw.err)
	}
	return bw.Flush()
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
	return n, err
}

type encoder struct {
	w   io.Writer
	err error
	buf [8]byte
}

func (e *encoder) raw(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *encoder) u8(v uint8)   { e.buf[0] = v; e.raw(e.buf[:1]) }
func (e *encoder) u16(v uint16) { binary.LittleEndian.PutUint16(e.buf[:], v); e.raw(e.buf[:2]) }
func (e *encoder) u32(v uint32) { binary.LittleEndian.PutUint32(e.buf[:], v); e.raw(e.buf[:4]) }
func (e *encoder) u64(v uint64) { binary.LittleEndian.PutUint64(e.buf[:], v); e.raw(e.buf[:8]) }
func (e *encoder) str(s string) { e.u64(uint64(len(s))); e.raw([]byte(s)) }

func (e *encoder) value(v any) error {
	switch x := v.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		if x {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	case Array:
		return e.array(x)
	default:
		return fmt.Errorf("unsupported metadata value type %T", v)
	}
	return nil
}

func writeSlice[T any](e *encoder, a Array, vals any) error {
	s, ok := vals.([]T)
	if !ok {
		return fmt.Errorf("array of %v holds %T", a.Elem, vals)
	}
	e.u64(uint64(len(s)))
	for _, v := range s {
		if err := e.value(v); err != nil {
			return err
		}
	}
	return nil
}

func (e *encoder) array(a Array) error {
	e.u32(uint32(a.Elem))
	switch a.Elem {
	case TypeUint8:
		return writeSlice[uint8](e, a, a.Values)
	case TypeInt8:
		return writeSlice[int8](e, a, a.Values)
	case TypeUint16:
		return writeSlice[uint16](e, a, a.Values)
	case TypeInt16:
		return writeSlice[int16](e, a, a.Values)
	case TypeUint32:
		return writeSlice[uint32](e, a, a.Values)
	case TypeInt32:
		return writeSlice[int32](e, a, a.Values)
	case TypeFloat32:
		return writeSlice[float32](e, a, a.Values)
	case TypeBool:
		return writeSlice[bool](e, a, a.Values)
	case TypeString:
		return writeSlice[string](e, a, a.Values)
	case TypeUint64:
		return writeSlice[uint64](e, a, a.Values)
	case TypeInt64:
		return writeSlice[int64](e, a, a.Values)
	case TypeFloat64:
		return writeSlice[float64](e, a, a.Values)
	case TypeArray:
		return writeSlice[Array](e, a, a.Values)
	}
	return fmt.Errorf("unsupported array element type %v", a.Elem)
}
