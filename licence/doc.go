// Package licence tells which licences a model or dataset revision carries:
// from its model card's YAML front matter (license, license_name) and from
// the text of a LICENSE file, and maps SPDX ids and the Hugging Face Hub's
// licence names to one canonical id so that a policy's list and a card's
// field compare.
//
// Words:
//   - Canonical id: the Hub's licence id ("apache-2.0", "cc-by-nc-4.0",
//     "llama3.2", "gemma"); an SPDX id maps to it ("GPL-3.0-only" →
//     "gpl-3.0", "Apache-2.0" → "apache-2.0"). Normalize.
//   - Model card: README.md at the top of a revision; its license field may
//     be a list, and "other" defers to license_name.
//   - Licence file: LICENSE or LICENCE, bare, .md or .txt, at the top.
//     Recognised by phrases only the licence's own text holds (Apache-2.0,
//     MIT, BSD-2/3-Clause, GPL-2/3, LGPL-2.1/3, AGPL-3, MPL-2.0, CC-BY,
//     CC-BY-SA, CC-BY-NC, CC-BY-NC-SA 4.0, the Llama 2 / 3 / 3.1 / 3.2 / 3.3
//     community licence agreements, Gemma terms of use); another text is
//     not guessed at.
//   - Found: one detected licence with the place it came from.
package licence
