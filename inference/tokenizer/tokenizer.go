package tokenizer

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Token types, as GGUF's tokenizer.ggml.token_type stores them.
const (
	TypeUndefined   int32 = 0
	TypeNormal      int32 = 1
	TypeUnknown     int32 = 2
	TypeControl     int32 = 3
	TypeUserDefined int32 = 4
	TypeUnused      int32 = 5
	TypeByte        int32 = 6
)

// Config describes a vocabulary as GGUF metadata does (tokenizer.ggml.*).
// It is plain data: the GGUF loader fills it, New checks it.
type Config struct {
	// Model is tokenizer.ggml.model: "llama" (SentencePiece), "gpt2"
	// (byte-level BPE) or "bert" (WordPiece). Required; no default.
	Model string
	// Pre is tokenizer.ggml.pre, the pre-tokenizer of byte-level BPE.
	// Default (empty): "default", llama.cpp's default splitter. Ignored for
	// "llama". Known values: see PreTokenizers.
	Pre string
	// Tokens is tokenizer.ggml.tokens, the text of each token; the index is
	// the id. Required.
	Tokens []string
	// Scores is tokenizer.ggml.scores, one per token; SentencePiece merges the
	// pair with the highest score first. Default (nil): all zero.
	Scores []float32
	// Types is tokenizer.ggml.token_type, one per token (TypeNormal, ...).
	// Default (nil): all TypeNormal.
	Types []int32
	// Merges is tokenizer.ggml.merges for "gpt2": "left right", in rank
	// order (first = merged first). Default (nil): no merges.
	Merges []string
	// BOS, EOS, UNK, PAD, EOT are the special token ids; -1 when the model has
	// none. The zero value 0 is a real id, so callers set -1 explicitly.
	BOS, EOS, UNK, PAD, EOT int32
	// SEP is the separator id of "bert" (tokenizer.ggml.seperator_token_id,
	// [SEP]), put last by Encode with addSpecial; BOS is its [CLS]. Read
	// only for "bert", where it must be a token.
	SEP int32
	// AddBOS and AddEOS are tokenizer.ggml.add_bos_token and add_eos_token:
	// Encode with addSpecial puts BOS first / EOS last. Default: false.
	AddBOS, AddEOS bool
	// AddSpacePrefix is tokenizer.ggml.add_space_prefix: SentencePiece puts a
	// space before the text (and after every special token). The GGUF
	// loader must set it to true for "llama" unless the key says false
	// (llama.cpp's default); Go's zero value false means no prefix.
	AddSpacePrefix bool
}

// Validate reports the first thing wrong with c, naming the field.
func (c *Config) Validate() error {
	switch c.Model {
	case "llama", "gpt2", "bert":
	default:
		return fmt.Errorf("tokenizer: Model %q unsupported (want \"llama\", \"gpt2\" or \"bert\")", c.Model)
	}
	n := len(c.Tokens)
	if n == 0 {
		return errors.New("tokenizer: Tokens is empty")
	}
	if n > 1<<30 {
		return fmt.Errorf("tokenizer: Tokens has %d entries, too many", n)
	}
	if c.Scores != nil && len(c.Scores) != n {
		return fmt.Errorf("tokenizer: Scores has %d entries, want %d (one per token)", len(c.Scores), n)
	}
	if c.Types != nil && len(c.Types) != n {
		return fmt.Errorf("tokenizer: Types has %d entries, want %d (one per token)", len(c.Types), n)
	}
	for _, s := range []struct {
		name string
		id   int32
	}{{"BOS", c.BOS}, {"EOS", c.EOS}, {"UNK", c.UNK}, {"PAD", c.PAD}, {"EOT", c.EOT}} {
		if s.id < -1 || int(s.id) >= n {
			return fmt.Errorf("tokenizer: %s id %d out of range [-1, %d)", s.name, s.id, n)
		}
	}
	if c.Model == "bert" && (c.BOS < 0 || c.UNK < 0 || c.SEP < 0 || int(c.SEP) >= n) {
		return fmt.Errorf("tokenizer: bert needs BOS ([CLS]), UNK and SEP tokens, have %d, %d, %d", c.BOS, c.UNK, c.SEP)
	}
	if c.AddBOS && c.BOS < 0 {
		return errors.New("tokenizer: AddBOS set but BOS is -1")
	}
	if c.AddEOS && c.EOS < 0 {
		return errors.New("tokenizer: AddEOS set but EOS is -1")
	}
	if c.Model == "gpt2" {
		if _, ok := preTokenizers[c.preName()]; !ok {
			return fmt.Errorf("tokenizer: Pre %q unknown (known: %s)", c.Pre, strings.Join(PreTokenizers(), ", "))
		}
		for i, m := range c.Merges {
			if _, _, ok := splitMerge(m); !ok {
				return fmt.Errorf("tokenizer: Merges[%d] = %q has no separating space", i, m)
			}
		}
	}
	return nil
}

func (c *Config) preName() string {
	if c.Pre == "" {
		return "default"
	}
	return c.Pre
}

// splitMerge splits "left right" at the first space after the first byte,
// as llama.cpp does, so that a token that is itself a space can be merged.
func splitMerge(m string) (string, string, bool) {
	if len(m) < 2 {
		return "", "", false
	}
	i := strings.IndexByte(m[1:], ' ')
	if i < 0 {
		return "", "", false
	}
	i++
	return m[:i], m[i+1:], true
}

const (
	modelSPM = iota
	modelBPE
	modelWPM
)

// Tokenizer encodes and decodes text for one vocabulary.
type Tokenizer struct {
	model          int
	tokens         []string
	scores         []float32
	types          []int32
	toID           map[string]int32
	pieces         []string // decoded bytes of every token, special ones as their text
	special        []int32  // control, user-defined, unknown; longest text first
	eog            []bool
	bos, eos, unk  int32
	sep            int32 // WordPiece: [SEP]
	maxTokenLen    int   // WordPiece: bytes of the longest token
	addBOS, addEOS bool
	spacePrefix    bool

	// byte-level BPE
	ranks       map[[2]string]int32
	byteRune    [256]string // byte -> its rune as UTF-8 (GPT-2 table)
	pre         []stage
	ignoreMerge bool

	// SentencePiece byte fallback: id of "<0xXX>" (or of the 1-byte token), -1 if none
	byteTok  [256]int32
	spmWords bool // words can be merged one at a time (spmWordsIndependent)
}

// New builds a Tokenizer from c after checking it with c.Validate.
func New(c Config) (*Tokenizer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	n := len(c.Tokens)
	t := &Tokenizer{
		tokens:      c.Tokens,
		scores:      c.Scores,
		types:       make([]int32, n),
		toID:        make(map[string]int32, n),
		pieces:      make([]string, n),
		eog:         make([]bool, n),
		bos:         c.BOS,
		eos:         c.EOS,
		unk:         c.UNK,
		addBOS:      c.AddBOS,
		addEOS:      c.AddEOS,
		spacePrefix: c.AddSpacePrefix,
	}
	if t.scores == nil {
		t.scores = make([]float32, n)
	}
	t.index(c)
	t.markEndOfGeneration(c)
	switch c.Model {
	case "llama":
		t.initSPM()
	case "gpt2":
		t.initBPE(c)
	case "bert":
		t.model, t.sep = modelWPM, c.SEP
		for _, s := range t.tokens {
			t.maxTokenLen = max(t.maxTokenLen, len(s))
		}
	}
	t.initPieces()
	return t, nil
}

// index sets each token's type and builds the text → id map.
func (t *Tokenizer) index(c Config) {
	for i := range t.types {
		t.types[i] = TypeNormal
		if c.Types != nil {
			t.types[i] = c.Types[i]
		}
	}
	if slices.Contains(c.Tokens, "") {
		// An empty text would match everywhere; llama.cpp renames it.
		t.tokens = slices.Clone(c.Tokens)
		for i, s := range t.tokens {
			if s == "" {
				t.tokens[i] = fmt.Sprintf("[EMPTY_%d]", i)
			}
		}
	}
	for i, s := range t.tokens {
		// The first of duplicate texts wins; llama.cpp refuses duplicates.
		if _, dup := t.toID[s]; !dup {
			t.toID[s] = int32(i)
		}
	}
}

// markEndOfGeneration marks the end-of-generation tokens, and gives
// well-known end markers the control type (llama.cpp overrides the type of
// these texts the same way).
func (t *Tokenizer) markEndOfGeneration(c Config) {
	for _, s := range []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>"} {
		if id, ok := t.toID[s]; ok {
			t.eog[id] = true
			t.types[id] = TypeControl
		}
	}
	for _, id := range []int32{c.EOS, c.EOT} {
		if id >= 0 {
			t.eog[id] = true
		}
	}
}

// initSPM sets up SentencePiece: word independence and byte fallback.
func (t *Tokenizer) initSPM() {
	t.model = modelSPM
	t.spmWords = spmWordsIndependent(t.tokens)
	for b := range 256 {
		t.byteTok[b] = -1
		if id, ok := t.toID[fmt.Sprintf("<0x%02X>", b)]; ok {
			t.byteTok[b] = id
		} else if id, ok := t.toID[string([]byte{byte(b)})]; ok {
			t.byteTok[b] = id
		}
	}
}

// initBPE sets up byte-level BPE: pre-tokenizer and merge ranks.
func (t *Tokenizer) initBPE(c Config) {
	t.model = modelBPE
	t.byteRune = byteToRune()
	t.pre = preTokenizers[c.preName()]
	t.ignoreMerge = ignoreMerges[c.preName()]
	t.ranks = make(map[[2]string]int32, len(c.Merges))
	for i, m := range c.Merges {
		l, r, _ := splitMerge(m)
		k := [2]string{l, r}
		if _, dup := t.ranks[k]; !dup {
			t.ranks[k] = int32(i)
		}
	}
}

// initPieces sets the text each token decodes to, and lists the special
// tokens, longest first (matched before the text is split).
func (t *Tokenizer) initPieces() {
	runeByte := runeToByte()
	for i, s := range t.tokens {
		switch typ := t.types[i]; {
		case typ == TypeControl || typ == TypeUserDefined || typ == TypeUnknown:
			t.pieces[i] = s
			if s != "" {
				t.special = append(t.special, int32(i))
			}
		case typ == TypeByte && t.model == modelSPM:
			if b, ok := parseByteToken(s); ok {
				t.pieces[i] = string([]byte{b})
			}
		case typ == TypeNormal && (t.model == modelSPM || t.model == modelWPM):
			t.pieces[i] = strings.ReplaceAll(s, "▁", " ")
		case typ == TypeNormal && t.model == modelBPE:
			t.pieces[i] = decodeByteLevel(s, runeByte)
		}
	}
	slices.SortStableFunc(t.special, func(a, b int32) int {
		return cmp.Compare(len(t.tokens[b]), len(t.tokens[a]))
	})
}

// parseByteToken reads "<0xXX>".
func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	var v byte
	for _, c := range []byte(s[3:5]) {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= c - '0'
		case c >= 'A' && c <= 'F':
			v |= c - 'A' + 10
		case c >= 'a' && c <= 'f':
			v |= c - 'a' + 10
		default:
			return 0, false
		}
	}
	return v, true
}

// BOS returns the beginning-of-sequence id, -1 if none.
func (t *Tokenizer) BOS() int32 { return t.bos }

// EOS returns the end-of-sequence id, -1 if none.
func (t *Tokenizer) EOS() int32 { return t.eos }

// VocabSize returns the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// AddBOS reports whether Encode with addSpecial puts BOS first.
func (t *Tokenizer) AddBOS() bool { return t.addBOS }

// IsEOG reports whether id ends generation (EOS, EOT, and the end markers
// listed in the package doc).
func (t *Tokenizer) IsEOG(id int32) bool {
	return id >= 0 && int(id) < len(t.eog) && t.eog[id]
}

// Token returns the vocabulary text of id ("▁Once", "<0x0A>", "Ġthe"), or ""
// when id is out of range.
func (t *Tokenizer) Token(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// ID returns the id of the token whose vocabulary text is s.
func (t *Tokenizer) ID(s string) (int32, bool) {
	id, ok := t.toID[s]
	return id, ok
}

// TokenType returns the type of id (TypeNormal, ...), TypeUndefined when id
// is out of range.
func (t *Tokenizer) TokenType(id int32) int32 {
	if id < 0 || int(id) >= len(t.types) {
		return TypeUndefined
	}
	return t.types[id]
}

// Piece returns the bytes id stands for, with special tokens rendered as their
// text (llama.cpp's token_to_piece with special=true). A byte token's piece is
// a single byte, possibly not valid UTF-8 on its own. Out of range: "".
func (t *Tokenizer) Piece(id int32) string {
	if id < 0 || int(id) >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// piece is what Decode renders: special tokens (control, unknown) as nothing.
// User-defined tokens keep their text, as in llama.cpp.
func (t *Tokenizer) piece(id int32) string {
	if id < 0 || int(id) >= len(t.pieces) {
		return ""
	}
	switch t.types[id] {
	case TypeControl, TypeUnknown:
		return ""
	}
	return t.pieces[id]
}

// Decode turns ids into text. Control and unknown tokens render as nothing;
// ids out of range are skipped. When the vocabulary adds a space prefix, the
// leading space of the first token is dropped (see the package doc). The
// result may hold invalid UTF-8 if ids end inside a multi-byte character.
func (t *Tokenizer) Decode(ids []int32) string {
	var sb strings.Builder
	for i, id := range ids {
		p := t.piece(id)
		if i == 0 && t.spacePrefix && strings.HasPrefix(p, " ") {
			p = p[1:]
		}
		sb.WriteString(p)
	}
	return sb.String()
}

// fragment is a piece of input: raw text (tok < 0) or a special token.
type fragment struct {
	text string
	tok  int32
}

// partition splits text around the special tokens it contains, longest
// token text first, as llama.cpp's tokenizer_st_partition does.
func (t *Tokenizer) partition(text string, parseSpecial bool) []fragment {
	frags := []fragment{{text: text, tok: -1}}
	for _, id := range t.special {
		typ := t.types[id]
		if !parseSpecial && typ != TypeUserDefined {
			continue
		}
		s := t.tokens[id]
		if !strings.Contains(text, s) {
			continue
		}
		var out []fragment
		for _, f := range frags {
			if f.tok >= 0 {
				out = append(out, f)
				continue
			}
			rest := f.text
			for {
				i := strings.Index(rest, s)
				if i < 0 {
					break
				}
				if i > 0 {
					out = append(out, fragment{text: rest[:i], tok: -1})
				}
				out = append(out, fragment{tok: id})
				rest = rest[i+len(s):]
			}
			if rest != "" {
				out = append(out, fragment{text: rest, tok: -1})
			}
		}
		frags = out
	}
	return frags
}

// Encode turns text into token ids. With addSpecial, BOS and EOS are added as
// the vocabulary asks (AddBOS, AddEOS). With parseSpecial, the texts of
// control tokens in text ("<|im_start|>", "<s>") become those tokens;
// otherwise they are tokenized as ordinary text. Encode("") is empty (or
// just BOS).
func (t *Tokenizer) Encode(text string, addSpecial, parseSpecial bool) []int32 {
	if t.model == modelWPM {
		return t.encodeWPM(text, addSpecial, parseSpecial)
	}
	out := make([]int32, 0, len(text)/3+2)
	if addSpecial && t.addBOS {
		out = append(out, t.bos)
	}
	var frags []fragment
	if text != "" {
		frags = t.partition(text, parseSpecial)
	}
	switch t.model {
	case modelSPM:
		var s spmSession
		prevSpecial := true
		for _, f := range frags {
			if f.tok >= 0 {
				out = append(out, f.tok)
				prevSpecial = true
				continue
			}
			out = s.encode(t, f.text, t.spacePrefix && prevSpecial, out)
			prevSpecial = false
		}
	case modelBPE:
		var s bpeSession
		for _, f := range frags {
			if f.tok >= 0 {
				out = append(out, f.tok)
				continue
			}
			out = s.encode(t, f.text, out)
		}
	}
	if addSpecial && t.addEOS {
		out = append(out, t.eos)
	}
	return out
}

// encodeWPM is Encode for WordPiece: with addSpecial, [CLS] first and
// [SEP] last, whatever add_bos_token says (as llama.cpp).
func (t *Tokenizer) encodeWPM(text string, addSpecial, parseSpecial bool) []int32 {
	out := make([]int32, 0, len(text)/3+2)
	if addSpecial {
		out = append(out, t.bos)
	}
	if text != "" {
		for _, f := range t.partition(text, parseSpecial) {
			if f.tok >= 0 {
				out = append(out, f.tok)
				continue
			}
			out = t.wpmEncode(f.text, out)
		}
	}
	if addSpecial {
		out = append(out, t.sep)
	}
	return out
}
