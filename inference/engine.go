package inference

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/cairnhub/cairn/inference/chat"
	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/inference/llama"
	"github.com/cairnhub/cairn/inference/tensor"
	"github.com/cairnhub/cairn/inference/tokenizer"
)

// DefaultMaxContext caps the context of a session when Config.ContextLength
// is 0, so a model trained for 128k positions does not allocate a KV cache
// for all of them.
const DefaultMaxContext = 4096

// ErrContextLength is wrapped by errors about a prompt that does not fit the
// context.
var ErrContextLength = errors.New("context length exceeded")

// Config tunes how a model is loaded. The zero value is the default.
type Config struct {
	// ContextLength is the number of positions (prompt plus generated
	// tokens) a session holds. Default 0: the model's trained context, at
	// most DefaultMaxContext. Larger than the trained context is refused.
	ContextLength int
	// Batch is how many prompt tokens are multiplied with each weight matrix
	// in one pass. Default 0: llama.DefaultBatch (64).
	Batch int
	// Weights selects how Open holds the weights: WeightsAuto (default:
	// resident when the file takes at most half of the available memory
	// on Linux, else mapped), WeightsMmap or WeightsResident. Load always
	// reads them into memory: into huge-page memory, or with WeightsMmap
	// tensor by tensor into the Go heap.
	Weights string
	// IdleSessions is how many finished sessions (each with its KV cache)
	// Model.Generate keeps for reuse when more than Parallel. Default 0:
	// Parallel.
	IdleSessions int
	// Parallel is how many generations Model.Generate runs at once, in one
	// batch: each pass over the weights serves all of them, each has its
	// own KV cache (Info.KVCacheBytes), and further requests wait first
	// come first. Default 0: DefaultParallel (4).
	Parallel int
}

// Ways of holding the weights (Config.Weights).
const (
	// WeightsAuto is the default: WeightsResident for Open where the file
	// takes at most half of MemAvailable (Linux), else WeightsMmap.
	WeightsAuto = ""
	// WeightsMmap maps the file: opening is instant, the page cache is
	// shared with other readers of the file, and the kernel may evict
	// weights under memory pressure.
	WeightsMmap = "mmap"
	// WeightsResident copies the file into huge-page memory (Linux) and
	// drops its page cache: opening reads the whole file; the weights are
	// held once and never evicted. Decode from huge pages measured faster
	// than from the mapped file's 4 KiB ones (TinyLlama shape, the two
	// alternating in one process): Q4_0 +1–37% (most runs +20%), Q8_0
	// +3–4%, F16 and Q4_K_M within noise.
	WeightsResident = "resident"
)

// Validate reports a negative field or an unknown Weights mode.
func (c Config) Validate() error {
	if c.ContextLength < 0 || c.Batch < 0 || c.IdleSessions < 0 || c.Parallel < 0 {
		return fmt.Errorf("inference config: negative value in %+v", c)
	}
	switch c.Weights {
	case WeightsAuto, WeightsMmap, WeightsResident:
	default:
		return fmt.Errorf("inference config: unknown weights mode %q (want %q, %q or %q)", c.Weights, WeightsAuto, WeightsMmap, WeightsResident)
	}
	return nil
}

// Info describes a loaded model.
type Info struct {
	// Arch is general.architecture: "llama", "mistral", "qwen2", "qwen3",
	// "phi3", "gemma2" or "gemma3"; or the embedding models "bert" and
	// "nomic-bert".
	Arch string
	// Name is general.name ("" when absent).
	Name string
	// ContextLength is the number of positions a session holds.
	ContextLength int
	// TrainedContextLength is {arch}.context_length.
	TrainedContextLength int
	VocabSize            int
	// EmbeddingLength, Layers, Heads and KVHeads describe the shape.
	EmbeddingLength, Layers, Heads, KVHeads int
	// NumParams counts the weights.
	NumParams int64
	// WeightBytes is the size of the weights; decoding reads them once per token.
	WeightBytes int64
	// KVCacheBytes is the size of one session's KV cache.
	KVCacheBytes int64
	// Parallel is how many generations run at once (Config.Parallel), each
	// with a KV cache of KVCacheBytes.
	Parallel int
	// FileType is the quantisation of the file ("Q4_0", "Q8_0", "F16", ...).
	FileType string
	// ChatTemplate is tokenizer.chat_template ("" when absent).
	ChatTemplate string
	// BOS and EOS are the texts of the begin/end-of-sequence tokens ("" when
	// the vocabulary has none), as chat templates refer to them.
	BOS, EOS string
	// Pooling is how an embedding model (bert, nomic-bert) pools its
	// tokens: "mean", "cls" or "last"; "" for a model that generates text.
	Pooling string
}

// Model is a loaded model: weights, tokenizer and metadata. It is safe for
// concurrent use; each generation runs in its own Session.
type Model struct {
	file *gguf.File
	net  *llama.Model
	enc  *llama.Encoder // embedding models: net is nil (embed.go)
	tok  *tokenizer.Tokenizer
	info Info
	cfg  Config
	chat *chat.Template

	mu    sync.Mutex
	idle  []*Session
	batch batcher

	// use is held shared by every running generation and exclusively by
	// Close, so weights are never released under a generation.
	use    sync.RWMutex
	closed bool
}

// ErrClosed is returned by generation on a closed Model.
var ErrClosed = errors.New("model is closed")

// Open loads the GGUF model at path with the default Config. The file is
// memory-mapped where the platform allows.
func Open(path string) (*Model, error) { return OpenConfig(path, Config{}) }

// OpenConfig loads the GGUF model at path.
func OpenConfig(path string, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	var f *gguf.File
	if residentWeights(cfg.Weights, st.Size(), AvailableMemory()) {
		f, err = gguf.OpenResident(path)
	} else {
		f, err = gguf.Open(path)
	}
	if err != nil {
		return nil, err
	}
	m, err := newModel(f, cfg)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	return m, nil
}

// Load loads a GGUF model of size bytes from r with the default Config.
// The file is read from r into memory once (huge-page memory on Linux).
func Load(r io.ReaderAt, size int64) (*Model, error) { return LoadConfig(r, size, Config{}) }

// LoadConfig loads a GGUF model of size bytes from r.
func LoadConfig(r io.ReaderAt, size int64, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var f *gguf.File
	var err error
	if cfg.Weights == WeightsMmap {
		f, err = gguf.Read(r, size) // tensors read into the heap one by one
	} else {
		f, err = gguf.ReadResident(r, size)
	}
	if err != nil {
		return nil, err
	}
	m, err := newModel(f, cfg)
	if err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

func newModel(f *gguf.File, cfg Config) (*Model, error) {
	if arch, _ := f.Architecture(); llama.IsEncoder(arch) {
		return newEncoderModel(f, cfg)
	}
	net, err := llama.Load(f)
	if err != nil {
		return nil, err
	}
	tc, err := TokenizerConfig(f)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.New(tc)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if tok.VocabSize() > net.Vocab {
		return nil, fmt.Errorf("tokenizer has %d tokens but the model only %d logits", tok.VocabSize(), net.Vocab)
	}
	ctxLen, err := contextLength(cfg.ContextLength, net.ContextLength)
	if err != nil {
		return nil, err
	}
	m := &Model{file: f, net: net, tok: tok, cfg: cfg}
	m.batch.m = m
	m.info = Info{
		Arch:                 net.Arch,
		ContextLength:        ctxLen,
		TrainedContextLength: net.ContextLength,
		VocabSize:            net.Vocab,
		EmbeddingLength:      net.Dim,
		Layers:               net.Layers,
		Heads:                net.Heads,
		KVHeads:              net.KVHeads,
		NumParams:            net.NumParams(),
		WeightBytes:          net.WeightBytes(),
		KVCacheBytes:         net.KVBytesBatch(ctxLen, cfg.Batch),
		Parallel:             cfg.Sequences(),
		FileType:             fileTypeName(f),
	}
	m.info.Name, _ = f.String("general.name")
	m.info.ChatTemplate, _ = f.String("tokenizer.chat_template")
	if tc.BOS >= 0 {
		m.info.BOS = tok.Token(tc.BOS)
	}
	if tc.EOS >= 0 {
		m.info.EOS = tok.Token(tc.EOS)
	}
	if m.chat, err = chat.New(m.info.ChatTemplate, m.info.BOS, m.info.EOS, tc.Tokens...); err != nil {
		return nil, err
	}
	return m, nil
}

// Close waits for running generations to end, then releases the weights.
// Later generations fail with ErrClosed. Close is idempotent.
func (m *Model) Close() error {
	m.use.Lock()
	defer m.use.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.mu.Lock()
	m.idle = nil
	m.batch.pass = nil
	m.mu.Unlock()
	return m.file.Close()
}

// Info describes the model.
func (m *Model) Info() Info { return m.info }

// ChatTemplate returns the model's chat template (its own Jinja template, or
// a fallback layout when that is missing or unusable; see chat.New). Render
// a conversation with it and pass the text as Request.Prompt.
func (m *Model) ChatTemplate() *chat.Template { return m.chat }

// Tokenizer returns the model's tokenizer.
func (m *Model) Tokenizer() *tokenizer.Tokenizer { return m.tok }

// TokenizerConfig converts a GGUF file's tokenizer.ggml.* metadata into a
// tokenizer.Config, applying llama.cpp's defaults for absent keys.
func TokenizerConfig(f *gguf.File) (tokenizer.Config, error) {
	c := tokenizer.Config{BOS: -1, EOS: -1, UNK: -1, PAD: -1, EOT: -1}
	var ok bool
	if c.Model, ok = f.String("tokenizer.ggml.model"); !ok {
		return c, fmt.Errorf("tokenizer.ggml.model missing")
	}
	c.Pre, _ = f.String("tokenizer.ggml.pre")
	if c.Tokens, ok = f.Strings("tokenizer.ggml.tokens"); !ok {
		return c, fmt.Errorf("tokenizer.ggml.tokens missing or not an array of strings")
	}
	if _, present := f.Lookup("tokenizer.ggml.scores"); present {
		if c.Scores, ok = f.Float32s("tokenizer.ggml.scores"); !ok {
			return c, fmt.Errorf("tokenizer.ggml.scores is not an array of floats")
		}
	}
	if _, present := f.Lookup("tokenizer.ggml.token_type"); present {
		if c.Types, ok = f.Int32s("tokenizer.ggml.token_type"); !ok {
			return c, fmt.Errorf("tokenizer.ggml.token_type is not an array of integers")
		}
	}
	if _, present := f.Lookup("tokenizer.ggml.merges"); present {
		if c.Merges, ok = f.Strings("tokenizer.ggml.merges"); !ok {
			return c, fmt.Errorf("tokenizer.ggml.merges is not an array of strings")
		}
	}
	for key, dst := range map[string]*int32{
		"bos_token_id": &c.BOS, "eos_token_id": &c.EOS, "unknown_token_id": &c.UNK,
		"padding_token_id": &c.PAD, "eot_token_id": &c.EOT,
	} {
		if v, ok := f.Int("tokenizer.ggml." + key); ok {
			// llama.cpp ignores an id outside the vocabulary (converters
			// write 0xFFFFFFFF for "none"), and so do we.
			if v >= 0 && v < int64(len(c.Tokens)) {
				*dst = int32(v)
			}
		}
	}
	if c.Model == "bert" {
		wordPieceIDs(f, &c)
		return c, nil
	}
	spm := c.Model == "llama"
	c.AddBOS = spm
	c.AddSpacePrefix = spm
	if v, ok := f.Bool("tokenizer.ggml.add_bos_token"); ok {
		c.AddBOS = v
	}
	if v, ok := f.Bool("tokenizer.ggml.add_eos_token"); ok {
		c.AddEOS = v
	}
	if v, ok := f.Bool("tokenizer.ggml.add_space_prefix"); ok {
		c.AddSpacePrefix = v
	}
	return c, nil
}

var fileTypes = map[uint64]string{
	0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
	10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
	16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 21: "Q2_K_S", 25: "IQ4_NL", 30: "IQ4_XS", 32: "BF16",
}

// fileTypeName names general.file_type, or the type holding most weight
// bytes when the key is absent.
func fileTypeName(f *gguf.File) string {
	if v, ok := f.Uint("general.file_type"); ok {
		if s, ok := fileTypes[v]; ok {
			return s
		}
		return fmt.Sprintf("file_type(%d)", v)
	}
	bytes := map[gguf.TensorType]int64{}
	var best gguf.TensorType
	for _, ti := range f.Tensors {
		bytes[ti.Type] += ti.Size
		if bytes[ti.Type] > bytes[best] {
			best = ti.Type
		}
	}
	return tensor.Type(best).String()
}

// contextLength is the context a session opens: asked (0: the trained one,
// at most DefaultMaxContext), never more than the model was trained for.
func contextLength(asked, trained int) (int, error) {
	if trained <= 0 {
		trained = DefaultMaxContext
	}
	switch {
	case asked == 0:
		return min(trained, DefaultMaxContext), nil
	case asked > trained:
		return 0, fmt.Errorf("context length %d exceeds the %d the model was trained for", asked, trained)
	}
	return asked, nil
}

// KVCacheBytes is the KV cache one session of the model in g holds with
// cfg, read from the header alone: what Info.KVCacheBytes reports once the
// model is loaded. Memory budgets use it before loading.
func KVCacheBytes(g *gguf.File, cfg Config) (int64, error) {
	if arch, _ := g.Architecture(); llama.IsEncoder(arch) {
		return 0, nil // encoders keep no cache
	}
	c, err := llama.ConfigFromGGUF(g)
	if err != nil {
		return 0, err
	}
	ctxLen, err := contextLength(cfg.ContextLength, c.ContextLength)
	if err != nil {
		return 0, err
	}
	return c.KVBytesBatch(ctxLen, cfg.Batch), nil
}
