// Package tokenizer turns text into token ids and back for the models Cairn
// serves, from the vocabulary a GGUF file carries (tokenizer.ggml.*).
//
// Words used in this package:
//
//   - token: an entry of the vocabulary, identified by its id (an int32 index
//     into Config.Tokens). Its text is the vocabulary string, which is not the
//     text it stands for: SentencePiece writes spaces as "▁" (U+2581) and
//     bytes as "<0xXX>"; byte-level BPE writes every byte as a printable
//     rune (the GPT-2 byte↔unicode table, e.g. space as "Ġ").
//   - piece: the bytes a token stands for once decoded. A piece may be an
//     incomplete UTF-8 sequence (one byte of a multi-byte character).
//   - special token: a token of type control (3), user-defined (4) or
//     unknown (2). Encode matches their texts in the input before any other
//     processing: user-defined always, control and unknown only when
//     parseSpecial is set (llama.cpp's rule).
//   - end of generation (EOG): the EOS and EOT tokens plus the tokens whose
//     text is one of the well-known end markers ("<|eot_id|>",
//     "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
//     "<|eom_id|>", "<EOT>"), as llama.cpp decides it.
//   - pre-tokenizer: the splitter that cuts text into words before byte-level
//     BPE merges; chosen by Config.Pre (tokenizer.ggml.pre). Go's regexp has
//     no lookahead, so each one is a hand-written scanner that reproduces
//     the regular expressions of the Hugging Face tokenizers.
//
// Three models are implemented, following llama.cpp's behaviour so that
// token ids match what llama.cpp feeds the same model:
//
//   - "llama": SentencePiece BPE (llm_tokenizer_spm): the text, with a space
//     prefix when AddSpacePrefix is set and spaces replaced by "▁", is cut into
//     UTF-8 characters, and adjacent pairs whose concatenation is a token are
//     merged highest score first (ties: leftmost first). Characters that form
//     no token fall back to byte tokens "<0xXX>", or to UNK when the
//     vocabulary has none.
//   - "gpt2": byte-level BPE: pre-tokenize, map bytes to runes, merge pairs
//     by rank (position in Config.Merges, lowest first).
//   - "bert": WordPiece (llm_tokenizer_wpm): each character replaced by the
//     first code point of its NFD decomposition (accents of precomposed
//     letters dropped, "é" → "e"), control characters dropped, lower case,
//     words split at whitespace and around punctuation, ASCII symbols and
//     CJK ideographs; each word, prefixed with "▁" (the converter's mark of
//     a word start; "##" continuations are stored bare), cut into the
//     longest tokens from the left, the whole word becoming UNK when a part
//     matches none. Encode with addSpecial puts BOS ([CLS]) first and SEP
//     ([SEP]) last.
//
// Decoding renders control, unknown and unused tokens as nothing.
// Tokenizer.Decode strips the space prefix of the very first token when
// AddSpacePrefix is set (llama_detokenize does the same: decoding
// Encode(s, false, false) gives s back, while a leading BOS keeps the space of
// the word after it, as llama.cpp prints it). A Decoder never strips: it is
// meant for generated tokens that continue a prompt.
//
// Decode does not apply llama.cpp's optional clean-up of spaces before
// punctuation (clean_spaces), which no current model asks for and which
// would break Decode(Encode(s)) == s.
//
// A Tokenizer is immutable after New and safe for concurrent use; a Decoder
// is not.
package tokenizer
