package scan

import "strings"

// allowed are the imports ordinary checkpoints need: PyTorch tensor and
// storage reconstruction, dtypes and layouts, ordered dicts, numpy array
// reconstruction and the builtin containers.
var allowed = map[string]bool{}

func init() {
	add := func(module string, names ...string) {
		for _, n := range names {
			allowed[module+"\x00"+n] = true
		}
	}
	add("torch._utils", "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3",
		"_rebuild_parameter", "_rebuild_parameter_with_state", "_rebuild_qtensor",
		"_rebuild_sparse_tensor", "_rebuild_nested_tensor", "_rebuild_device_tensor_from_numpy",
		"_rebuild_device_tensor_from_cpu_tensor", "_rebuild_meta_tensor_no_storage",
		"_rebuild_wrapper_subclass")
	add("torch._tensor", "_rebuild_from_type", "_rebuild_from_type_v2")
	add("torch.nn.parameter", "Parameter")
	add("torch.storage", "UntypedStorage", "TypedStorage")
	add("torch.serialization", "_get_layout")
	for _, s := range []string{"Bool", "Byte", "Char", "Short", "Int", "Long", "Half", "Float",
		"Double", "BFloat16", "ComplexFloat", "ComplexDouble", "QUInt8", "QInt8", "QInt32",
		"QUInt4x2", "QUInt2x4", "Untyped", "Typed"} {
		add("torch", s+"Storage")
	}
	add("torch", "Size", "device", "Tensor", "float32", "float", "float64", "double", "float16",
		"half", "bfloat16", "complex32", "complex64", "complex128", "cfloat", "cdouble", "uint8",
		"int8", "int16", "short", "int32", "int", "int64", "long", "bool", "uint16", "uint32",
		"uint64", "qint8", "quint8", "qint32", "quint4x2", "quint2x4", "float8_e4m3fn",
		"float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "per_tensor_affine",
		"per_channel_affine", "per_tensor_symmetric", "per_channel_symmetric",
		"per_channel_affine_float_qparams", "strided", "sparse_coo", "sparse_csr",
		"contiguous_format", "channels_last", "channels_last_3d", "preserve_format")
	add("collections", "OrderedDict", "defaultdict", "Counter", "deque")
	for _, m := range []string{"numpy.core.multiarray", "numpy._core.multiarray"} {
		add(m, "_reconstruct", "scalar")
	}
	add("numpy.core.numeric", "_frombuffer")
	add("numpy._core.numeric", "_frombuffer")
	add("numpy", "dtype", "ndarray")
	add("_codecs", "encode")
	add("builtins", "set", "frozenset", "slice", "range", "bytearray", "bytes", "complex",
		"dict", "list", "tuple", "int", "float", "str", "bool", "object")
	add("copyreg", "_reconstructor")
}

// deniedModules execute code, spawn processes, touch the file system or the
// network, or load further pickles; a module or any parent package on this
// list is denied whatever the name.
var deniedModules = setOf("os", "posix", "nt", "_posixsubprocess", "_winapi", "subprocess",
	"sys", "runpy", "pty", "socket", "ssl", "shutil", "webbrowser", "importlib", "imp",
	"zipimport", "pkgutil", "site", "pickle", "_pickle", "cPickle", "pickletools", "dill",
	"cloudpickle", "shelve", "marshal", "ctypes", "_ctypes", "code", "codeop", "commands",
	"asyncio", "multiprocessing", "requests", "httpx", "urllib", "urllib2", "urllib3",
	"httplib", "http", "aiohttp", "ftplib", "smtplib", "telnetlib", "poplib", "imaplib",
	"nntplib", "xmlrpc", "websocket", "websockets", "timeit", "bdb", "pdb", "pydoc", "profile",
	"cProfile", "trace", "doctest", "idlelib", "distutils", "setuptools", "pip", "ensurepip",
	"venv", "socketserver", "_osx_support", "_aix_support", "logging.config", "numpy.f2py", "numpy.distutils",
	"numpy.testing", "torch.hub", "torch.utils.cpp_extension", "torch.testing",
	"torch._dynamo", "torch._inductor", "torch.jit", "torch.package", "IPython")

// deniedNames are single names that execute code in otherwise harmless modules.
var deniedNames = setOf(
	"builtins.eval", "builtins.exec", "builtins.execfile", "builtins.compile",
	"builtins.getattr", "builtins.setattr", "builtins.delattr", "builtins.__import__",
	"builtins.open", "builtins.breakpoint", "builtins.input", "builtins.globals",
	"builtins.locals", "builtins.vars", "builtins.apply", "builtins.file", "builtins.reload",
	"builtins.help", "builtins.exit", "builtins.quit",
	"operator.attrgetter", "operator.methodcaller", "_operator.attrgetter", "_operator.methodcaller",
	"numpy.lib.format.read_array", "copyreg.add_extension",
	"types.CodeType", "types.FunctionType", "types.LambdaType", "types.MethodType",
	"types.ModuleType", "io.open", "io.open_code", "io.FileIO", "_io.open", "_io.FileIO",
	"codecs.open", "numpy.load", "numpy.lib.npyio.load", "yaml.load", "yaml.unsafe_load",
	"yaml.full_load", "torch.load", "torch.serialization.load", "torch.serialization._load",
	"uuid._get_command_stdout", "platform.popen", "tempfile._os")

// dangerousAttrs are attribute names that, reached through a dotted name,
// lead from an allowed object to arbitrary code.
var dangerousAttrs = setOf("eval", "exec", "compile", "getattr", "setattr", "__import__",
	"system", "popen", "spawn", "execv", "execve", "open", "load", "loads")

// dunderOK are dunder names Python itself pickles.
var dunderOK = setOf("copyreg.__newobj__", "copyreg.__newobj_ex__", "copy_reg.__newobj__")

// py2Modules is the Python 2 to 3 module renaming the unpickler applies to
// protocols 0–2 (a subset of _compat_pickle.IMPORT_MAPPING).
var py2Modules = map[string]string{"__builtin__": "builtins", "copy_reg": "copyreg",
	"cPickle": "pickle", "commands": "subprocess", "exceptions": "builtins",
	"urllib2": "urllib.request", "httplib": "http.client", "cStringIO": "io", "StringIO": "io",
	"Queue": "queue", "UserDict": "collections", "UserList": "collections",
	"_socket": "socket", "SocketServer": "socketserver", "thread": "_thread"}

func setOf(s ...string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, x := range s {
		m[x] = true
	}
	return m
}

// classify returns the verdict on importing name from module, and why.
func classify(module, name string) (Verdict, string) {
	v, why := classifyOne(module, name)
	m, ok := py2Modules[module]
	if !ok {
		return v, why
	}
	// Protocols 0–2 import the Python 3 name; later ones the name as written.
	v2, why2 := classifyOne(m, name)
	switch {
	case v == Unsafe:
		return v, why
	case v2 == Unsafe || v2 == Safe:
		return v2, why2 + " (as " + m + ")"
	}
	return v, why
}

func classifyOne(module, name string) (Verdict, string) {
	if allowed[module+"\x00"+name] {
		return Safe, "allowed"
	}
	full := module + "." + name
	if len(full) > maxNameLen {
		return Unknown, "name too long to classify"
	}
	for i := 0; i <= len(full); i++ {
		if i == len(full) || full[i] == '.' {
			if p := full[:i]; deniedModules[p] {
				return Unsafe, "module " + p + " can run code, spawn processes or reach files or the network"
			}
		}
	}
	if deniedNames[full] {
		return Unsafe, full + " runs code or opens files"
	}
	segs := strings.Split(name, ".")
	for i, s := range segs {
		// A dunder name reaches interpreter internals: builtins.__getattribute__
		// fetches eval, X.__globals__ a module's namespace.
		if len(s) > 4 && strings.HasPrefix(s, "__") && strings.HasSuffix(s, "__") && !dunderOK[full] {
			return Unsafe, "name goes through " + s
		}
		if len(segs) > 1 && (deniedModules[s] || (i > 0 && dangerousAttrs[s])) {
			return Unsafe, "attribute path reaches " + s
		}
	}
	return Unknown, "not on the allow-list"
}

// maxNameLen is the longest module.name classified; Python has no module
// names this long.
const maxNameLen = 4096
