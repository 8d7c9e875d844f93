// Package sample picks the next token from a model's logits.
//
// Words used in this package:
//
//   - logits: one unnormalised score per vocabulary entry, as the model's
//     output layer produces them.
//   - candidates: the token ids still in the running after a filter; each
//     filter (top-k, top-p, min-p) removes some.
//   - history: the ids seen so far (prompt and generated); the repetition
//     penalty looks at its last RepeatLastN entries, the frequency and
//     presence penalties at the generated ids only (OpenAI's semantics).
//   - greedy: Temperature 0, the id with the highest logit (lowest id on a
//     tie); no random numbers are drawn.
//
// The order of the steps is llama.cpp's default sampler chain: penalties
// (repetition, then frequency and presence, as llama.cpp's penalties
// sampler applies them), top-k, top-p, min-p, temperature, draw. Top-p and min-p therefore
// judge the model's own probabilities (softmax at temperature 1), and the
// temperature only reweighs the candidates they leave; "softmax with
// temperature before top-p" would let a high temperature widen the nucleus.
// A Sampler owns a seeded PCG generator, so the same Params (Seed included),
// logits and history give the same ids; it is not safe for concurrent use.
package sample
