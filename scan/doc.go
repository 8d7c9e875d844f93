// Package scan decides whether a model file may be loaded. It walks pickle
// opcodes without executing anything and classifies every import, and it
// validates safetensors and GGUF headers. It reads only what the checks
// need: pickle streams and headers, never tensor data.
//
// # Use
//
// File (or Scanner.File with Limits) takes the file's name, an io.ReaderAt
// and the size, and returns a Report: a Verdict, the Findings that made it,
// and every import seen. Scanner.Pickle walks a raw pickle read once from an
// io.Reader. Neither returns an error for anything about the content; an
// error means the context ended or the limits are invalid.
//
// # What is checked
//
//   - Pickles, protocols 0–5: raw files (recognised by a PROTO opcode, or by
//     the extensions .pkl .pickle .joblib .bin .pt .pth .ckpt .dat .data),
//     every zip member ending in .pkl whatever its directory, every other
//     zip member that parses as a pickle, the pickle of a .npy file of an
//     object dtype, gzip, zlib and bzip2 streams of pickle-named files
//     (pickle.load(gzip.open(...)), joblib's compress=), pickles or zips
//     held in a string inside a pickle (what pickle.loads or torch.load
//     would read if the pickle calls them), and pickle-named files that are
//     valid in another format too (as a sniffed stream).
//     Every opcode is followed with a model of the stack, MARKs and memo
//     sufficient to resolve the module and name of each GLOBAL, INST and
//     STACK_GLOBAL, including names built from memoised strings (PUT, BINPUT,
//     LONG_BINPUT, MEMOIZE, GET, BINGET, LONG_BINGET) and decoded from
//     STRING, UNICODE and the binary string opcodes. Each import is
//     classified against an allow-list (what PyTorch and numpy checkpoints
//     need), a deny-list (modules and names that run code, spawn processes,
//     reach files or the network, or load further pickles, also when reached
//     through a dotted attribute path or a Python 2 module name), and
//     otherwise Unknown. A STACK_GLOBAL whose names are not string literals
//     (computed by a call, too long, lost past a limit) is Unsafe. REDUCE,
//     OBJ and NEWOBJ calling something that is not an imported name is
//     Unknown; BUILD on an imported name itself is Unsafe, and so is a
//     functools.partial of a denied function (also found as an import).
//     EXT1/EXT2/EXT4 are Unknown. PERSID/BINPERSID are allowed (PyTorch
//     storages).
//   - Bytes after STOP: another pickle there is walked too, except in
//     torch.save's pre-1.6 format, whose five pickles are followed by raw
//     storage bytes torch never unpickles.
//   - A pickle that ends before STOP, or that the unpickler would reject, is
//     Unknown; what it imported before that point is classified as usual.
//   - PyTorch zips: all members; storage records (<dir>/data/<key>) that the
//     pickles refer to are skipped unread. Duplicate member names and zips
//     that cannot be read are Unsafe; zips nest up to MaxDepth.
//   - safetensors: the 8-byte header length within the file and the limit,
//     a UTF-8 JSON object with no duplicate names and nothing after it but
//     spaces, __metadata__ a map of strings, every tensor's dtype known, its
//     data_offsets inside the data area and as long as dtype × shape, and the
//     tensors tiling the data area with no overlap, gap or trailing bytes (as
//     the safetensors library requires). Any failure is Unsafe.
//   - GGUF: magic, version 2 or 3, counts and lengths that fit in the file,
//     unique keys and tensor names, a power-of-two general.alignment, tensor
//     names shorter than 64 bytes, 1–4 dimensions, known ggml types, offsets
//     aligned, sizes from type and shape inside the file, no overlaps. Any
//     failure is Unsafe.
//   - Bounds on hostile input (Limits): stack, memo, kept strings, bytes per
//     pickle, zip members, header size, tensors, findings, time. A bound
//     that stops a walk or a header check is Unsafe (what follows was not
//     seen); a memo bound only makes later names unresolved. Zips and
//     pickles nested deeper than MaxDepth, or compressed nested zips over
//     MaxNested, are Unknown: no loader opens them by itself.
//
// # What is not checked
//
//   - What allowed callables do with their arguments (tensor shapes, strides
//     and storage sizes inside a pickle are not validated).
//   - Unknown imports are not judged; the policy decides what Unknown means.
//   - TorchScript code in a zip (reported Unknown), pre-2017 tar checkpoints
//     (Unknown), and what follows a numpy array that joblib wrote inline
//     between opcodes: an import of joblib's array wrapper is Unsafe, as
//     joblib.load reads the array bytes and goes on unpickling past them.
//   - Keras, ONNX and TensorFlow formats, GGUF chat templates, tokenizer
//     files, Python source shipped for trust_remote_code; pickles
//     compressed with xz, lzma or lz4 (reported Unknown).
//   - Protocol 0 and 1 pickles inside strings (only strings starting with a
//     PROTO opcode or a zip header are followed), out-of-band buffers of
//     protocol 5, and copyreg extensions a loader may have registered.
//   - New code-running functions in allowed modules, or in modules missing
//     from the deny-list: those are Unknown, not Unsafe.
//
// Words:
//   - Verdict: Safe, Unknown or Unsafe; a report's verdict is its worst
//     finding's, Safe without findings.
//   - Finding: one reason a file is not Safe, with its Kind, the Member and
//     Offset where it was seen, and the Module and Name of an import.
//   - Member: where a stream sits inside the file: a zip member path, "!"
//     between nested zips, "@OFFSET" for a pickle or zip held in a string at
//     that offset of its parent stream.
//   - Import: a module and name a pickle asks the unpickler to look up
//     (GLOBAL, STACK_GLOBAL, INST), which the unpickler then may call.
//   - Allow-list, deny-list: the imports classified Safe and Unsafe; all
//     others are Unknown.
//   - Unresolved import: a STACK_GLOBAL whose module or name the walker
//     cannot determine from string literals.
//   - Sniffed stream: one that may not be a pickle (a zip member without
//     .pkl, bytes after STOP, a string): an error before any import means
//     "not a pickle" and is no finding.
//   - Storage record: a zip member holding a tensor's raw bytes, named by a
//     persistent id ('storage', type, key, location, numel) in the pickle.
//   - Limits: the bounds one scan keeps to; zero fields take defaults.
package scan
