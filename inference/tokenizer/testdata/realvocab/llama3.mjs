// Writes llama3.json: for each string, Llama 3's ids (llama3-tokenizer-js),
// and the part of the vocabulary and merges that can matter for them.
import fs from 'fs'
import tok from 'llama3-tokenizer-js'
const strings = JSON.parse(fs.readFileSync('gen/strings.json', 'utf8'))
const BYTES = (() => { const bs = []; for (let b = 33; b <= 126; b++) bs.push(b); for (let b = 161; b <= 172; b++) bs.push(b); for (let b = 174; b <= 255; b++) bs.push(b)
  const cs = bs.slice(); let n = 0; for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n); n++ }
  const m = {}; bs.forEach((b, i) => m[b] = String.fromCharCode(cs[i])); return m })()
const enc = new TextEncoder()
const mapped = strings.map(s => Array.from(enc.encode(s), b => BYTES[b]).join('')).join('\u0000')
const cases = strings.map(s => ({ text: s, ids: tok.encode(s, { bos: false, eos: false }) }))
const tokens = {}
const special = {}
tok.vocabById.forEach((t, id) => { if (id < 128000 && mapped.includes(t)) tokens[id] = t; if (id >= 128000 && strings.some(s => s.includes(t))) special[id] = t })
for (let b = 0; b < 256; b++) tokens[tok.vocabByString.get(BYTES[b])] = BYTES[b]
const merges = [...tok.merges.entries()].filter(([k]) => mapped.includes(k.replace(' ', ''))).sort((a, b) => a[1] - b[1]).map(([k]) => k)
for (const c of cases) for (const id of c.ids) if (!(id in tokens) && !(id in special)) throw new Error('token ' + id + ' missing')
fs.writeFileSync('gen/llama3.json', JSON.stringify({ source: 'llama3-tokenizer-js 1.2.0 (Meta Llama 3 vocabulary)', n_vocab: tok.vocabById.length, pre: 'llama-bpe', tokens, special, merges, cases }))
console.log(Object.keys(tokens).length, 'tokens', merges.length, 'merges')
