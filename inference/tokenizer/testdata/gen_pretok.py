# Run from inference/tokenizer: python3 testdata/gen_pretok.py (needs the "regex" module).
# Generates testdata/pretok.json: pre-tokenizer splits computed with the
# Python "regex" module (which supports lookahead) from the original
# Hugging Face expressions, applied in sequence as llama.cpp does.
import json, regex
GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
QWEN2 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
TEKKEN = r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
BLOOM = r""" ?[^(\s|.,!?…。，、।۔،)]+"""
PIPES = {
  "tekken": [TEKKEN],
  "falcon": [r"[\p{P}\$\+<=>\^~\|`]+", GPT2, r"[0-9][0-9][0-9]"],
  "bloom": [BLOOM],
  "viking": [BLOOM, r"\p{N}"],
  "gpt2": [GPT2],
  "llama3": [LLAMA3],
  "qwen2": [QWEN2],
  "smollm": [r"\p{N}", GPT2],
  "default": [r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"],
}
def split(pieces, pat):
  out = []
  for p in pieces:
    pos = 0
    for m in regex.finditer(pat, p):
      if m.start() > pos: out.append(p[pos:m.start()])
      if m.end() > m.start(): out.append(m.group())
      pos = m.end()
    if pos < len(p): out.append(p[pos:])
  return out
S = [
  "Hello world", "Hello, world!", "don't you'll we've I'M HE'S they'RE", "'s 'x ''s",
  "1234567 89 0", "3.14159 and 2,000,000", "x1y22z333w4444", "   leading", "trailing   ",
  "a  b   c    d", "line1\nline2\r\nline3\n\n\nend", "  \n  indented\n\t\ttabbed",
  "tab\tsep\tvalues", "  \n", "\n", " ", "", "!!!???...", " !!! ???", "a!!!\n\nb", "foo()\n",
  "héllo wörld ñandú", "日本語のテキスト、句読点。", "русский текст 123", "emoji 🙂👍🏽 fun",
  "mixed123abc!!!??? ...", "email@example.com http://x.y/z?a=1&b=2", "$100 + 5% = <tag> ^~|",
  "def f(x):\n    return x**2  # comment\n", "CamelCaseWord ALLCAPS lowercase",
  "\u00a0nbsp\u2003em\u3000ideographic", "١٢٣ arabic digits ½ ⅔", "a\u0301 combining",
  " 's", "it's 'twas", "McDonald's iPhone XMLHttpRequest naïveTÉ ÀBc", "ǅemal ǈ Ǉudi", "ʰmodifier ʰʰA", "a/b//c\n/", "x.y,z!w?v…u。", "(paren|pipe) end",
  "ÉCOLE école Éc", "ΑΒΓδεζ", "\u0301\u0301abc", "DŽungla", "I'd've", "   ", "\t", "x \n y", "\r\n\r\n", "...\n", " a", "  a",
]
gold = {}
for name, pats in PIPES.items():
  gold[name] = []
  for s in S:
    pieces = [s] if s else []
    for p in pats: pieces = split(pieces, p)
    gold[name].append({"text": s, "words": pieces})
with open("testdata/pretok.json", "w") as f:
  f.write("{\n" + ",\n".join(json.dumps(k) + ": [\n" + ",\n".join(json.dumps(e, ensure_ascii=False) for e in v) + "\n]" for k, v in gold.items()) + "\n}\n")
print("ok")
