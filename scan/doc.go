// Package scan decides whether a model file may be loaded: it walks pickle
// opcodes without executing them, classifying every import, and validates
// safetensors and GGUF headers.
//
// Words:
//   - Verdict: Safe, Unknown or Unsafe (worst finding wins).
//   - Finding: one reason a file is not Safe, located by member and offset.
package scan
