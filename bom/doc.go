// Package bom writes a CycloneDX 1.6 ML bill of materials (JSON) for one
// revision of a model or dataset: what it is, what it is made of, under
// which licences, what the compliance gate found, who signed it, where it
// came from and where its replicas are.
//
// Build(Input) takes plain structs the node fills: the file list with
// sha256 digests and per-file scan verdicts, the model card's YAML front
// matter (ParseCard), GGUF header facts (GGUFFacts) or config.json facts
// (ParseConfig), licences, the scan verdict, signatures, the upstream and the
// replica holders. The same Input gives the same bytes.
//
// What it states: the model as a component of type machine-learning-model
// (a dataset as type data) with a purl pkg:huggingface/ORG/NAME@REV and a
// modelCard: task (pipeline_tag), architecture family (GGUF
// general.architecture or config.json model_type), model architecture
// (config.json architectures[0]), the datasets named in the card, and as
// modelCard properties quantisation, parameter count, context length, base
// models and languages. Every file is a component of type file with a
// SHA-256 hash and, when scanned, its verdict and findings. Licences are
// SPDX ids when the Hub id has one (SPDXID), otherwise names. Scan,
// quarantine, signature, upstream and replica facts are component properties
// named in the property taxonomy style: cairn:scan:*, cairn:quarantine:*,
// cairn:signature:N:*, cairn:upstream:*, cairn:replica:*; the upstream is
// also a distribution external reference.
//
// What it does not do: it checks nothing itself; it states what Input says
// (signature "verified" is the caller's verdict). ParseCard reads only the
// front matter (at most MaxFrontMatter bytes) and ignores values of the
// wrong type; ParseConfig reads at most MaxConfigJSON bytes.
// e2e/bom/validate.mjs checks output against the official schema.
//
// Words:
//   - BOM: a bill of materials; here a CycloneDX 1.6 JSON document.
//   - ML-BOM: a BOM whose subject is a machine-learning model, with a model
//     card section.
//   - Component: one thing the BOM lists (the model, each file).
//   - Front matter: the YAML between "---" lines atop a Hub README.md.
//   - Property: a CycloneDX name/value pair; names repeat for lists.
//   - Holder: a peer storing a replica, with its jurisdiction.
//   - SPDX id: a licence identifier from the SPDX licence list.
package bom
