package scan

import "math"

// memo is the walker's model of the unpickler's memo. Keys are dense in
// every pickle Python writes (0, 1, 2, …), so they index a slice of 4-byte
// entries; other keys go to a small map. An entry is either an index into
// vals (a value with content: a kept string, an imported name, a tuple with
// its items) or, negative, just the kind of the value.
type memo struct {
	dense  []int32
	sparse map[uint64]int32
	vals   [][]value // chunks of valsChunk, so growth never copies
	nvals  int
	n      int  // entries stored (MEMOIZE's next key)
	lost   bool // an entry was dropped past MaxMemo
}

const (
	memoAbsent = math.MinInt32
	// maxSparse bounds memo keys that do not extend the dense run.
	maxSparse = 1 << 16
	// valueCost is what one kept value is charged against MaxRetained,
	// beyond its string's bytes.
	valueCost = 64
	valsChunk = 1024
)

func kindOnly(k vkind) int32 { return -1 - int32(k) }

// encode stores v's content in vals if MaxRetained allows, else its kind.
func (w *walker) encode(v value) int32 {
	switch {
	case v.k == vStr || v.k == vGlobal || (v.k == vTuple && v.items != nil):
		if w.charge(valueCost + len(v.s) + valueCost*len(v.items)) {
			m := &w.memo
			if m.nvals%valsChunk == 0 {
				m.vals = append(m.vals, make([]value, 0, valsChunk))
			}
			m.vals[len(m.vals)-1] = append(m.vals[len(m.vals)-1], v)
			m.nvals++
			return int32(m.nvals - 1)
		}
		if v.k == vStr {
			return kindOnly(vLong)
		}
	}
	return kindOnly(v.k)
}

func (w *walker) decode(e int32) value {
	if e >= 0 {
		return w.memo.vals[e/valsChunk][e%valsChunk]
	}
	return value{k: vkind(-1 - e)}
}

func (w *walker) memoPut(key uint64, v value) {
	m := &w.memo
	if key < uint64(len(m.dense)) {
		if m.dense[key] == memoAbsent {
			m.n++
		}
		m.dense[key] = w.encode(v)
		return
	}
	if e, ok := m.sparse[key]; ok && e != memoAbsent {
		m.sparse[key] = w.encode(v)
		return
	}
	if m.n >= w.st.lim.MaxMemo {
		m.lost = true
		return
	}
	// Grow the dense run when the key is near it; Python's keys always are.
	if key < uint64(w.st.lim.MaxMemo) && key <= uint64(2*len(m.dense)+1024) {
		for uint64(len(m.dense)) <= key {
			m.dense = append(m.dense, memoAbsent)
		}
		m.dense[key] = w.encode(v)
		m.n++
		return
	}
	if len(m.sparse) >= maxSparse {
		m.lost = true
		return
	}
	if m.sparse == nil {
		m.sparse = map[uint64]int32{}
	}
	m.sparse[key] = w.encode(v)
	m.n++
}

func (w *walker) memoGet(key uint64) error {
	m := &w.memo
	e := int32(memoAbsent)
	if key < uint64(len(m.dense)) {
		e = m.dense[key]
	} else if s, ok := m.sparse[key]; ok {
		e = s
	}
	switch {
	case e == memoAbsent && m.lost:
		return w.push(value{k: vLost})
	case e == memoAbsent:
		return malformed("memo key %d was never stored", key)
	}
	return w.push(w.decode(e))
}
