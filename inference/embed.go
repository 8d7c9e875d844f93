package inference

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairnhub/cairn/inference/chat"
	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/inference/llama"
	"github.com/cairnhub/cairn/inference/tokenizer"
)

// ErrNotEmbedding is returned by Embed on a model that generates text:
// Cairn makes embeddings only with embedding models (bert, nomic-bert),
// not from the hidden states of chat models.
var ErrNotEmbedding = errors.New("not an embedding model")

// ErrNotGenerative is returned by Generate and Perplexity on an embedding
// model.
var ErrNotGenerative = errors.New("an embedding model does not generate text")

// EmbedInput is one text to embed: Text, or Tokens when not nil (ids used
// as they are, [CLS] and [SEP] included).
type EmbedInput struct {
	Text   string
	Tokens []int32
}

// Embedding is the embedding of one input.
type Embedding struct {
	// Vector is the pooled embedding, L2-normalised (Info.EmbeddingLength
	// values).
	Vector []float32
	// Tokens is how many tokens were embedded (after truncation).
	Tokens int
	// Truncated is set when the input was cut to the context.
	Truncated bool
}

// EmbedOptions tunes Embed.
type EmbedOptions struct {
	// Truncate cuts an input longer than the context to its first
	// ContextLength-1 tokens plus its last ([SEP]); without it such an
	// input fails with ErrContextLength.
	Truncate bool
}

// IsEmbedding reports whether the model makes embeddings (and does not
// generate text).
func (m *Model) IsEmbedding() bool { return m.enc != nil }

// EmbedTokens tokenizes text as Embed does: [CLS] first, [SEP] last,
// special-token texts parsed as tokens (llama.cpp's server does the same).
func (m *Model) EmbedTokens(text string) []int32 { return m.tok.Encode(text, true, true) }

// Embed embeds each input with the model's pooling (Info.Pooling) and
// L2 normalisation. Inputs run one after another; each one's matrix
// products use every core.
func (m *Model) Embed(ctx context.Context, inputs []EmbedInput, o EmbedOptions) ([]Embedding, error) {
	m.use.RLock()
	defer m.use.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	if m.enc == nil {
		return nil, fmt.Errorf("%w: %s is a %s model", ErrNotEmbedding, m.info.Name, m.info.Arch)
	}
	out := make([]Embedding, len(inputs))
	for i, in := range inputs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		toks := in.Tokens
		if toks == nil {
			toks = m.EmbedTokens(in.Text)
		}
		if len(toks) == 0 {
			return nil, fmt.Errorf("input %d is empty", i)
		}
		n := m.info.ContextLength
		if len(toks) > n {
			if !o.Truncate {
				return nil, fmt.Errorf("%w: input %d has %d tokens, the context holds %d", ErrContextLength, i, len(toks), n)
			}
			toks = append(toks[:n-1:n-1], toks[len(toks)-1])
			out[i].Truncated = true
		}
		v, err := m.enc.Embed(toks)
		if err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		out[i].Vector, out[i].Tokens = v, len(toks)
	}
	return out, nil
}

// newEncoderModel loads a BERT-family embedding model.
func newEncoderModel(f *gguf.File, cfg Config) (*Model, error) {
	enc, err := llama.LoadEncoder(f)
	if err != nil {
		return nil, err
	}
	tc, err := TokenizerConfig(f)
	if err != nil {
		return nil, err
	}
	if tc.Model != "bert" {
		return nil, fmt.Errorf("embedding model with tokenizer %q: only WordPiece (bert) is supported", tc.Model)
	}
	tok, err := tokenizer.New(tc)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if tok.VocabSize() > enc.Vocab {
		return nil, fmt.Errorf("tokenizer has %d tokens but the model only %d embeddings", tok.VocabSize(), enc.Vocab)
	}
	ctxLen, err := contextLength(cfg.ContextLength, enc.ContextLength)
	if err != nil {
		return nil, err
	}
	m := &Model{file: f, enc: enc, tok: tok, cfg: cfg}
	m.batch.m = m
	m.info = Info{
		Arch: enc.Arch, ContextLength: ctxLen, TrainedContextLength: enc.ContextLength,
		VocabSize: enc.Vocab, EmbeddingLength: enc.Dim, Layers: enc.Layers, Heads: enc.Heads, KVHeads: enc.Heads,
		NumParams: enc.NumParams(), WeightBytes: enc.WeightBytes(), Parallel: cfg.Sequences(),
		FileType: fileTypeName(f), Pooling: enc.Pooling.String(),
	}
	m.info.Name, _ = f.String("general.name")
	m.info.BOS = tok.Token(tc.BOS)
	if m.chat, err = chat.New("", "", ""); err != nil {
		return nil, err
	}
	return m, nil
}

// wordPieceIDs sets the special ids of a "bert" vocabulary as llama.cpp
// reads them: [CLS] from bos_token_id, else cls_token_id, else 101;
// [SEP] from seperator_token_id (the converter's spelling), else 102;
// [UNK] 100 and [PAD] 0 unless the file says. Ids outside the vocabulary
// count as absent.
func wordPieceIDs(f *gguf.File, c *tokenizer.Config) {
	n := int64(len(c.Tokens))
	id := func(cur int32, key string, def int64) int32 {
		if cur >= 0 {
			return cur
		}
		if v, ok := f.Int("tokenizer.ggml." + key); ok && v >= 0 && v < n {
			return int32(v)
		}
		if def < n {
			return int32(def)
		}
		return -1
	}
	c.BOS = id(c.BOS, "cls_token_id", 101)
	c.SEP = id(-1, "seperator_token_id", 102)
	c.UNK = id(c.UNK, "unknown_token_id", 100)
	c.PAD = id(c.PAD, "padding_token_id", 0)
	c.AddBOS, c.AddEOS, c.AddSpacePrefix = true, false, true
}
