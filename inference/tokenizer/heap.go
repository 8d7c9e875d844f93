package tokenizer

// bigramHeap is the merge queue of both tokenizers; before orders it
// (SentencePiece: highest score first, BPE: lowest rank first, then the
// leftmost pair). Hand-written rather than container/heap to avoid an
// interface call and an allocation per merge.
type bigramHeap []bigram

func (h *bigramHeap) push(before func(a, b bigram) bool, b bigram) {
	*h = append(*h, b)
	q := *h
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !before(q[i], q[p]) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *bigramHeap) pop(before func(a, b bigram) bool) bigram {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(q) {
			break
		}
		m := l
		if r := l + 1; r < len(q) && before(q[r], q[l]) {
			m = r
		}
		if !before(q[m], q[i]) {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

// merger is the state both tokenizers merge one word with: its symbols
// (UTF-8 characters, then merged runs, as a linked list) and the queue of
// candidate pairs.
type merger struct {
	syms []symbol
	heap bigramHeap
}

// merge splits text into UTF-8 characters and merges adjacent symbols,
// best pair first by before, until no candidate is left. pair(left, right)
// pushes the candidate of two adjacent symbols when the vocabulary has
// their concatenation; it is called with -1 at the ends.
func (m *merger) merge(text string, before func(a, b bigram) bool, pair func(left, right int32)) {
	m.syms = m.syms[:0]
	m.heap = m.heap[:0]
	for off := 0; off < len(text); {
		n := min(utf8LenFromLead(text[off]), len(text)-off)
		idx := int32(len(m.syms))
		next := idx + 1
		if off+n == len(text) {
			next = -1
		}
		m.syms = append(m.syms, symbol{prev: idx - 1, next: next, start: int32(off), n: int32(n)})
		off += n
	}
	for i := int32(1); i < int32(len(m.syms)); i++ {
		pair(i-1, i)
	}
	for len(m.heap) > 0 {
		b := m.heap.pop(before)
		l, r := &m.syms[b.left], &m.syms[b.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != b.size {
			continue // stale: one side has changed since
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			m.syms[r.next].prev = b.left
		}
		pair(l.prev, b.left)
		pair(b.left, l.next)
	}
}
