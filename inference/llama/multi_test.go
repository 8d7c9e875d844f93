package llama

import (
	"bytes"
	"math"
	"testing"

	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/inference/tensor"
)

// TestBatchForwardMatchesAlone runs three sequences of different prompt
// lengths greedily, first each alone with State.Forward, then together in
// Batch.Forward passes where one sequence decodes while another is still
// in its prompt, and wants the same tokens and the same logits.
func TestBatchForwardMatchesAlone(t *testing.T) {
	m := loadFixture(t)
	prompts := [][]int32{{1, 400, 81, 27}, {1, 90, 12, 300, 7, 9, 200, 33, 41, 5, 16}, {1, 77}}
	const gen = 24
	alone := make([][]int32, len(prompts))
	for i, p := range prompts {
		st := m.NewState(64, 4)
		logits, err := st.Forward(p)
		if err != nil {
			t.Fatal(err)
		}
		for range gen {
			id := argmax(logits)
			alone[i] = append(alone[i], id)
			if logits, err = st.Forward([]int32{id}); err != nil {
				t.Fatal(err)
			}
		}
	}

	b := m.NewBatch(12)
	states := make([]*State, len(prompts))
	next := make([][]int32, len(prompts)) // tokens still to feed
	got := make([][]int32, len(prompts))
	logits := make([][]float32, len(prompts))
	for i, p := range prompts {
		states[i] = m.NewState(64, 4)
		next[i] = p
		logits[i] = make([]float32, m.Vocab)
	}
	for step := 0; step < 200; step++ {
		var seqs []Seq
		for i := range prompts {
			if len(got[i]) == gen || (i == 2 && step < 5) { // the last joins late
				continue
			}
			k := min(len(next[i]), 4)
			sq := Seq{State: states[i], Tokens: next[i][:k]}
			if k == len(next[i]) {
				sq.Logits = logits[i]
			}
			next[i] = next[i][k:]
			seqs = append(seqs, sq)
		}
		if len(seqs) == 0 {
			break
		}
		if err := b.Forward(seqs); err != nil {
			t.Fatal(err)
		}
		for _, sq := range seqs {
			if sq.Logits == nil {
				continue
			}
			i := indexOfState(states, sq.State)
			id := argmax(sq.Logits)
			got[i] = append(got[i], id)
			next[i] = []int32{id}
		}
	}
	for i := range prompts {
		if len(got[i]) != gen {
			t.Fatalf("sequence %d generated %d tokens, want %d", i, len(got[i]), gen)
		}
		for j := range gen {
			if got[i][j] != alone[i][j] {
				t.Fatalf("sequence %d token %d: batched %d, alone %d\nbatched %v\nalone   %v", i, j, got[i][j], alone[i][j], got[i], alone[i])
			}
		}
	}
}

func indexOfState(states []*State, st *State) int {
	for i, s := range states {
		if s == st {
			return i
		}
	}
	return -1
}

func TestBatchForwardRefusesBadInput(t *testing.T) {
	m := loadFixture(t)
	b := m.NewBatch(4)
	st := m.NewState(8, 2)
	for name, seqs := range map[string][]Seq{
		"too many tokens": {{State: st, Tokens: []int32{1, 2, 3}}},
		"over the batch":  {{State: st, Tokens: []int32{1, 2}}, {State: m.NewState(8, 4), Tokens: []int32{1, 2, 3}}},
		"repeated state":  {{State: st, Tokens: []int32{1}}, {State: st, Tokens: []int32{2}}},
		"bad token":       {{State: st, Tokens: []int32{-1}}},
		"short logits":    {{State: st, Tokens: []int32{1}, Logits: make([]float32, 3)}},
	} {
		if err := b.Forward(seqs); err == nil {
			t.Errorf("%s: no error", name)
		}
		if st.Pos() != 0 {
			t.Fatalf("%s: refused pass moved the state to %d", name, st.Pos())
		}
	}
}

// TestBatchExactDecode: decode steps of five sequences (enough for the
// lane kernels, on a Q4_0 model; MatMulEach on Q8_0) give each sequence's
// logits bit for bit as State.Forward does alone.
func TestBatchExactDecode(t *testing.T) {
	for _, typ := range []tensor.Type{tensor.Q4_0, tensor.Q8_0} {
		var buf bytes.Buffer
		shape := Shape{Arch: "llama", Dim: 128, Layers: 2, Heads: 4, KVHeads: 2, FFNDim: 256, Vocab: 300, ContextLength: 64}
		if err := WriteRandomModel(&buf, shape, typ, 3); err != nil {
			t.Fatal(err)
		}
		f, err := gguf.ReadBytes(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		m, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		const nseq = 5
		b := m.NewBatch(nseq)
		alone := make([]*State, nseq)
		seqs := make([]Seq, nseq)
		for i := range nseq {
			prompt := []int32{1, int32(10 + i), 20}
			alone[i] = m.NewState(64, 4)
			if _, err := alone[i].Forward(prompt); err != nil {
				t.Fatal(err)
			}
			st := m.NewState(64, 4)
			if _, err := st.Forward(prompt); err != nil {
				t.Fatal(err)
			}
			seqs[i] = Seq{State: st, Logits: make([]float32, m.Vocab)}
		}
		for step := range 4 {
			for i := range seqs {
				seqs[i].Tokens = []int32{int32(30 + 7*i + step)}
			}
			if err := b.Forward(seqs); err != nil {
				t.Fatal(err)
			}
			for i := range seqs {
				want, err := alone[i].Forward(seqs[i].Tokens)
				if err != nil {
					t.Fatal(err)
				}
				for k, g := range seqs[i].Logits {
					if math.Float32bits(g) != math.Float32bits(want[k]) {
						t.Fatalf("%v step %d sequence %d logit %d: %g, alone %g", typ, step, i, k, g, want[k])
					}
				}
			}
		}
	}
}

// TestInterleavedLoad: a model read into memory it owns (ReadResident) has
// its Q4_0 matrices in tiles where the CPU has the tile kernels, and a
// model over bytes it does not own (ReadBytes: as a mapping) never does;
// both give the same logits bit for bit, token after token.
func TestInterleavedLoad(t *testing.T) {
	var buf bytes.Buffer
	shape := Shape{Arch: "llama", Dim: 128, Layers: 2, Heads: 4, KVHeads: 2, FFNDim: 256, Vocab: 300, ContextLength: 64}
	if err := WriteRandomModel(&buf, shape, tensor.Q4_0, 5); err != nil {
		t.Fatal(err)
	}
	fp, err := gguf.ReadBytes(bytes.Clone(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	fr, err := gguf.ReadResident(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	plain, err := Load(fp)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Load(fr)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		m    *Model
		want bool
	}{{"plain", plain, false}, {"resident", res, tensor.HasTiles()}} {
		for _, w := range []*tensor.Matrix{c.m.layers[0].wq, c.m.layers[1].wDown, c.m.output} {
			if got := w.Interleaved() > 0; got != c.want {
				t.Fatalf("%s model: a %dx%d Q4_0 matrix interleaved %v, want %v", c.name, w.Rows, w.Cols, got, c.want)
			}
		}
	}
	sp, sr := plain.NewState(64, 4), res.NewState(64, 4)
	toks := []int32{1, 17, 42, 99, 5, 250}
	for i, tok := range toks {
		lp, err := sp.Forward([]int32{tok})
		if err != nil {
			t.Fatal(err)
		}
		lr, err := sr.Forward([]int32{tok})
		if err != nil {
			t.Fatal(err)
		}
		for j := range lp {
			if math.Float32bits(lp[j]) != math.Float32bits(lr[j]) {
				t.Fatalf("token %d logit %d: plain %g, resident %g", i, j, lp[j], lr[j])
			}
		}
	}
}
