// Writes llama2.json: Llama 2's ids (llama-tokenizer-js: encode(s, false, true),
// no BOS, with the space prefix) and the part of the vocabulary that can matter.
// SentencePiece merges by the score of the merged piece; the HF merges list this
// package carries was made from those scores, so a piece's score here is minus
// the rank of the first merge that makes it.
import fs from 'fs'
import tok from 'llama-tokenizer-js'
const strings = JSON.parse(fs.readFileSync('gen/strings.json', 'utf8'))
const esc = strings.map(s => (' ' + s).replaceAll(' ', '▁')).join('\u0000')
const cases = strings.map(s => ({ text: s, ids: tok.encode(s, false, true) }))
const rankOf = new Map()
for (const [k, r] of tok.merges.entries()) {
  const piece = k.replace(' ', '')
  if (!rankOf.has(piece) || r < rankOf.get(piece)) rankOf.set(piece, r)
}
const tokens = {}
tok.vocabById.forEach((t, id) => {
  if (id < 3 || (id >= 3 && id <= 258) || esc.includes(t)) {
    const type = id === 0 ? 2 : id < 3 ? 3 : id <= 258 ? 6 : 1
    tokens[id] = { text: t, score: rankOf.has(t) ? -rankOf.get(t) : 0, type }
  }
})
for (const c of cases) for (const id of c.ids) if (!(id in tokens)) throw new Error('token ' + id + ' missing')
fs.writeFileSync('gen/llama2.json', JSON.stringify({ source: 'llama-tokenizer-js 1.2.2 (Meta Llama 2 vocabulary)', n_vocab: tok.vocabById.length, tokens, cases }))
console.log(Object.keys(tokens).length, 'tokens', 'rank of ▁▁:', rankOf.get('▁▁'), 'of', tok.merges.size)
