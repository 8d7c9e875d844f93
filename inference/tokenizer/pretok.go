package tokenizer

import (
	"slices"
	"unicode"
	"unicode/utf8"
)

// A stage cuts one piece of text into consecutive, non-empty sub-pieces that
// cover it. A pre-tokenizer is a list of stages applied in turn, as
// llama.cpp's unicode_regex_split applies its list of expressions: text a
// stage's expression does not match stays as pieces of its own.
type stage func(s string, dst []string) []string

// preTokenizers maps tokenizer.ggml.pre values to their splitters, following
// llama.cpp's table of pre-tokenizer types.
var preTokenizers = map[string][]stage{}

// ignoreMerges lists the pre-tokenizers whose words are looked up whole
// before merging (Llama 3's tokenizer.json sets ignore_merges).
var ignoreMerges = map[string]bool{
	"llama3": true, "llama-v3": true, "llama-bpe": true, "falcon3": true, "pixtral": true, "tekken": true,
}

func init() {
	gpt2 := []stage{scanStage(gpt2Next)}
	llama3 := []stage{scanStage(func(s string) int { return llama3Next(s, 3) })}
	qwen2 := []stage{scanStage(func(s string) int { return llama3Next(s, 1) })}
	starcoder := []stage{classStage(isN, 1, 1), scanStage(gpt2Next)}
	def := []stage{
		classStage(isDefaultPunct, 1, -1),
		scanStage(gpt2Next),
		classStage(isN, 1, -1),
		classStage(isASCIIDigit, 3, 3),
	}
	falcon := []stage{
		classStage(isFalconPunct, 1, -1),
		scanStage(gpt2Next),
		classStage(isASCIIDigit, 3, 3),
	}
	for _, n := range []string{"falcon"} {
		preTokenizers[n] = falcon
	}
	for _, n := range []string{"tekken"} {
		preTokenizers[n] = []stage{scanStage(tekkenNext)}
	}
	for _, n := range []string{"bloom", "poro-chat", "gpt3-finnish"} {
		preTokenizers[n] = []stage{bloomStage}
	}
	for _, n := range []string{"viking"} {
		preTokenizers[n] = []stage{bloomStage, classStage(isN, 1, 1)}
	}
	for _, n := range []string{"default"} {
		preTokenizers[n] = def
	}
	for _, n := range []string{"gpt2", "gpt-2", "mpt", "olmo", "jais", "phi-2", "roberta-bpe", "gigachat",
		"jina-es", "jina-de", "jina-v1-en", "jina-v2-es", "jina-v2-de", "jina-v2-code"} {
		preTokenizers[n] = gpt2
	}
	for _, n := range []string{"llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral", "dbrx", "smaug-bpe", "chatglm-bpe", "glm4"} {
		preTokenizers[n] = llama3
	}
	for _, n := range []string{"qwen2", "deepseek-r1-qwen", "stablelm2", "hunyuan", "megrez"} {
		preTokenizers[n] = qwen2
	}
	for _, n := range []string{"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"} {
		preTokenizers[n] = starcoder
	}
}

// PreTokenizers returns the supported values of Config.Pre, sorted.
func PreTokenizers() []string {
	names := make([]string, 0, len(preTokenizers))
	for n := range preTokenizers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// splitWords runs the stages over text and appends the words to dst.
func splitWords(stages []stage, text string, dst []string) []string {
	if text == "" {
		return dst
	}
	base := len(dst)
	dst = append(dst, text)
	var tmp []string
	for _, st := range stages {
		tmp = tmp[:0]
		for _, p := range dst[base:] {
			tmp = st(p, tmp)
		}
		dst = append(dst[:base], tmp...)
	}
	return dst
}

// scanStage turns a scanner (length in bytes of the first word of a
// non-empty string, always > 0) into a stage.
func scanStage(next func(string) int) stage {
	return func(s string, dst []string) []string {
		for s != "" {
			n := next(s)
			dst = append(dst, s[:n])
			s = s[n:]
		}
		return dst
	}
}

// classStage matches runs of runes in class, at least minRunes long and cut
// after maxRunes (-1: unbounded): the regular expression class{min,max},
// searched leftmost-first. Unmatched text between matches is kept as pieces.
func classStage(class func(rune) bool, minRunes, maxRunes int) stage {
	return func(s string, dst []string) []string {
		unmatched := 0 // start of pending unmatched text
		for i := 0; i < len(s); {
			j, k := i, 0
			for j < len(s) && (maxRunes < 0 || k < maxRunes) {
				r, w := utf8.DecodeRuneInString(s[j:])
				if !class(decodedRune(r, w)) {
					break
				}
				j += w
				k++
			}
			if k >= minRunes && k > 0 {
				if unmatched < i {
					dst = append(dst, s[unmatched:i])
				}
				dst = append(dst, s[i:j])
				i, unmatched = j, j
				continue
			}
			_, w := utf8.DecodeRuneInString(s[i:])
			i += w
		}
		if unmatched < len(s) {
			dst = append(dst, s[unmatched:])
		}
		return dst
	}
}

// decodedRune maps an invalid byte (RuneError of width 1) to a rune of no
// class, so that it counts as "other" (neither letter, number nor space).
func decodedRune(r rune, w int) rune {
	if r == utf8.RuneError && w == 1 {
		return -1
	}
	return r
}

func isL(r rune) bool { return r >= 0 && unicode.IsLetter(r) }
func isN(r rune) bool { return r >= 0 && unicode.IsNumber(r) }

// isS is \s: Unicode White_Space, which unicode.IsSpace implements.
func isS(r rune) bool           { return r >= 0 && unicode.IsSpace(r) }
func isOther(r rune) bool       { return !isS(r) && !isL(r) && !isN(r) }
func isASCIIDigit(r rune) bool  { return r >= '0' && r <= '9' }
func isCRLF(r rune) bool        { return r == '\r' || r == '\n' }
func isNotCRLFOrLN(r rune) bool { return !isCRLF(r) && !isL(r) && !isN(r) }

// isDefaultPunct is [\p{P}\$\+<=>\^~\|].
func isDefaultPunct(r rune) bool {
	if r < 0 {
		return false
	}
	switch r {
	case '$', '+', '<', '=', '>', '^', '~', '|':
		return true
	}
	return unicode.IsPunct(r)
}

// isFalconPunct is [\p{P}\$\+<=>\^~\|`].
func isFalconPunct(r rune) bool { return r == '`' || isDefaultPunct(r) }

func first(s string) (rune, int) {
	r, w := utf8.DecodeRuneInString(s)
	return decodedRune(r, w), w
}

// run returns the byte length of the longest prefix of s in class.
func run(s string, class func(rune) bool) int {
	n := 0
	for n < len(s) {
		r, w := first(s[n:])
		if !class(r) {
			break
		}
		n += w
	}
	return n
}

// runMax is run limited to max runes.
func runMax(s string, class func(rune) bool, max int) int {
	n := 0
	for k := 0; k < max && n < len(s); k++ {
		r, w := first(s[n:])
		if !class(r) {
			break
		}
		n += w
	}
	return n
}

// contraction matches 's 't 're 've 'm 'll 'd at the start of s; fold makes
// the letters case-insensitive (ASCII only, as llama.cpp's adapted regex).
func contraction(s string, fold bool) int {
	if len(s) < 2 || s[0] != '\'' {
		return 0
	}
	lower := func(c byte) byte {
		if fold && c >= 'A' && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	switch lower(s[1]) {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if len(s) >= 3 && lower(s[2]) == 'e' {
			return 3
		}
	case 'l':
		if len(s) >= 3 && lower(s[2]) == 'l' {
			return 3
		}
	}
	return 0
}

// spaceRun handles \s+(?!\S)|\s+ for a string starting with whitespace: the
// whole run when it ends the text, else the run minus its last rune (left to
// prefix the next word), else a lone whitespace rune.
func spaceRun(s string) int {
	n := run(s, isS)
	if n == len(s) {
		return n
	}
	_, lastW := utf8.DecodeLastRuneInString(s[:n])
	if n-lastW > 0 {
		return n - lastW
	}
	return n
}

// gpt2Next scans GPT-2's expression
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
func gpt2Next(s string) int {
	r, w := first(s)
	if r == '\'' {
		if n := contraction(s, false); n > 0 {
			return n
		}
	}
	if r == ' ' && len(s) > 1 {
		r2, _ := first(s[1:])
		switch {
		case isL(r2):
			return 1 + run(s[1:], isL)
		case isN(r2):
			return 1 + run(s[1:], isN)
		case isOther(r2):
			return 1 + run(s[1:], isOther)
		}
	}
	switch {
	case isL(r):
		return run(s, isL)
	case isN(r):
		return run(s, isN)
	case isOther(r):
		return run(s, isOther)
	}
	_ = w
	return spaceRun(s)
}

// llama3Next scans Llama 3's expression (Qwen2's with maxDigits 1):
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
func llama3Next(s string, maxDigits int) int {
	r, w := first(s)
	if r == '\'' {
		if n := contraction(s, true); n > 0 {
			return n
		}
	}
	if isL(r) {
		return run(s, isL)
	}
	if isNotCRLFOrLN(r) && w < len(s) {
		if r2, _ := first(s[w:]); isL(r2) {
			return w + run(s[w:], isL)
		}
	}
	if isN(r) {
		return runMax(s, isN, maxDigits)
	}
	if r == ' ' && len(s) > 1 {
		if r2, _ := first(s[1:]); isOther(r2) {
			n := 1 + run(s[1:], isOther)
			return n + run(s[n:], isCRLF)
		}
	}
	if isOther(r) {
		n := run(s, isOther)
		return n + run(s[n:], isCRLF)
	}
	// whitespace: \s*[\r\n]+ ends after the last newline of the run
	n := run(s, isS)
	for p := n - 1; p >= 0; p-- {
		if s[p] == '\r' || s[p] == '\n' {
			return p + 1
		}
	}
	return spaceRun(s)
}

// Mistral's tekken classes: A = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] (may start a
// word), B = [\p{Ll}\p{Lm}\p{Lo}\p{M}] (may continue one).
func isTekkenA(r rune) bool {
	return r >= 0 && (unicode.In(r, unicode.Lu, unicode.Lt, unicode.Lm, unicode.Lo, unicode.M))
}

func isTekkenB(r rune) bool {
	return r >= 0 && (unicode.In(r, unicode.Ll, unicode.Lm, unicode.Lo, unicode.M))
}

// tekkenWord matches P?A*B+ (lowerFirst) or P?A+B* at the start of s, P
// being [^\r\n\p{L}\p{N}], with the backtracking a regular expression
// engine would do; 0 when neither matches.
func tekkenWord(s string) int {
	pw := 0
	if r, w := first(s); isNotCRLFOrLN(r) && w < len(s) {
		pw = w
	}
	// A*B+: the longest A-run that still leaves at least one B after it.
	alt1 := func(s string) int {
		var ends []int // byte offsets after 0, 1, 2, ... A runes
		ends = append(ends, 0)
		for n := 0; n < len(s); {
			r, w := first(s[n:])
			if !isTekkenA(r) {
				break
			}
			n += w
			ends = append(ends, n)
		}
		for j := len(ends) - 1; j >= 0; j-- {
			if b := run(s[ends[j]:], isTekkenB); b > 0 {
				return ends[j] + b
			}
		}
		return 0
	}
	// A+B*: greedy A-run, then any B-run.
	alt2 := func(s string) int {
		a := run(s, isTekkenA)
		if a == 0 {
			return 0
		}
		return a + run(s[a:], isTekkenB)
	}
	for _, alt := range []func(string) int{alt1, alt2} {
		if pw > 0 {
			if n := alt(s[pw:]); n > 0 {
				return pw + n
			}
		}
		if n := alt(s); n > 0 {
			return n
		}
	}
	return 0
}

// tekkenNext scans Mistral's tekken expression:
// [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|
// [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|
// \p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
func tekkenNext(s string) int {
	if n := tekkenWord(s); n > 0 {
		return n
	}
	r, w := first(s)
	if isN(r) {
		return w
	}
	crlfSlash := func(r rune) bool { return r == '\r' || r == '\n' || r == '/' }
	if r == ' ' && len(s) > 1 {
		if r2, _ := first(s[1:]); isOther(r2) {
			n := 1 + run(s[1:], isOther)
			return n + run(s[n:], crlfSlash)
		}
	}
	if isOther(r) {
		n := run(s, isOther)
		return n + run(s[n:], crlfSlash)
	}
	n := run(s, isS)
	for p := n - 1; p >= 0; p-- {
		if s[p] == '\r' || s[p] == '\n' {
			return p + 1
		}
	}
	return spaceRun(s)
}

// isBloomWordRune is [^(\s|.,!?…。，、।۔،)] of BLOOM's ` ?[^(\s|.,!?…。，、।۔،)]+`.
func isBloomWordRune(r rune) bool {
	if r < 0 {
		return true
	}
	switch r {
	case '(', '|', '.', ',', '!', '?', '…', '。', '，', '、', '।', '۔', '،', ')':
		return false
	}
	return !unicode.IsSpace(r)
}

// bloomStage matches ` ?[^(\s|.,!?…。，、।۔،)]+` leftmost-first, keeping the
// text between matches as pieces.
func bloomStage(s string, dst []string) []string {
	unmatched := 0
	for i := 0; i < len(s); {
		j := i
		if s[j] == ' ' {
			j++
		}
		if n := run(s[j:], isBloomWordRune); n > 0 {
			if unmatched < i {
				dst = append(dst, s[unmatched:i])
			}
			dst = append(dst, s[i:j+n])
			i, unmatched = j+n, j+n
			continue
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	if unmatched < len(s) {
		dst = append(dst, s[unmatched:])
	}
	return dst
}
