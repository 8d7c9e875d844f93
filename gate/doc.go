// Package gate is the compliance check every import passes: it scans each
// file of a revision (package scan: pickle opcodes, safetensors and GGUF
// headers), detects its licences (package licence), asks the policy's scan
// and licenses fields (sovereignty.Engine.Admit) and records the verdict
// in the store before the revision is committed, so that a revision that
// breaks the rule is stored quarantined and never visible otherwise.
//
// # Use
//
// An importer that reads each file once (ingest.Add) calls Start, then
// Run.Scan for each file with the file it just imported, then Finish and
// Record before Commit. One that stores first (bundle import, mirror)
// calls Check with StoreOpener, which reads back through a chunker.Reader
// only the bytes the scanner needs, then Record. Release verifies an
// organisation-signed release document and stores it with the quarantine
// record, which lifts the quarantine.
//
// Words:
//   - Check: the record of one revision's gate pass (store.Check): each
//     file's verdict and first findings, the licences detected, the rule
//     that decided and the findings it let through (warnings). Kept for
//     every gated revision, quarantined or not.
//   - Quarantine: a revision committed but not to be served, replicated or
//     loaded (store.Quarantine, store.Store.Quarantined), with the reasons
//     and a count of the files by verdict. CheckQuarantine refuses a
//     revision quarantined and not released with a *QuarantineError
//     (ErrQuarantined); QuarantineReason is the HF API's view of it.
//   - Release: a sovereignty.Release signed by a trusted organisation key,
//     stored with the quarantine record it lifts; it travels with the
//     revision (Result.Release applies one that came with it). A release
//     that does not verify, or names a revision not quarantined, is
//     refused (ErrReleaseRefused) and audited.
//   - Via: the way in, named in records and audit entries.
package gate
