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
