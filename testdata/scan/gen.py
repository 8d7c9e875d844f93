#!/usr/bin/env python3
"""Generate the pickle-scanner corpus in this directory.

Run from anywhere: python3 testdata/scan/gen.py
Nothing here is ever unpickled: malicious payloads are built with pickle's
Pickler (objects whose __reduce__ names the target) or assembled opcode by
opcode and checked with pickletools.dis, which only parses.

PyTorch and numpy are not needed: stand-in modules named torch, torch._utils,
numpy and numpy.core.multiarray are registered in sys.modules so that
pickle writes exactly the GLOBAL references the real libraries produce.
"""
import collections
import io
import os
import pickle
import pickletools
import struct
import subprocess
import sys
import types
import zipfile
import json

OUT = os.path.dirname(os.path.abspath(__file__))
written = []


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    written.append(name)


def check(data):
    """Parse (never load) every pickle in data; raises if one is invalid."""
    pickletools.dis(data, out=io.StringIO())
    return data


# --- stand-in modules -----------------------------------------------------

def module(name):
    m = types.ModuleType(name)
    sys.modules[name] = m
    return m


def function(mod, name):
    def f(*a):
        raise RuntimeError("stand-in, never called")
    f.__module__, f.__qualname__, f.__name__ = mod.__name__, name, name
    setattr(mod, name, f)
    return f


def klass(mod, name):
    c = type(name, (), {})
    c.__module__, c.__qualname__ = mod.__name__, name
    setattr(mod, name, c)
    return c


torch = module("torch")
torch_utils = module("torch._utils")
torch._utils = torch_utils
rebuild_tensor_v2 = function(torch_utils, "_rebuild_tensor_v2")
FloatStorage = klass(torch, "FloatStorage")
numpy = module("numpy")
numpy_core = module("numpy.core")
multiarray = module("numpy.core.multiarray")
reconstruct = function(multiarray, "_reconstruct")
ndarray = klass(numpy, "ndarray")
np_dtype = klass(numpy, "dtype")


class Storage:
    """A tensor storage: torch pickles it as a persistent id."""

    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class Tensor:
    def __init__(self, storage, shape):
        self.storage, self.shape = storage, shape

    def __reduce_ex__(self, proto):
        stride = (self.shape[1], 1) if len(self.shape) == 2 else (1,)
        return (rebuild_tensor_v2, (self.storage, 0, tuple(self.shape), stride, False, collections.OrderedDict()))


class Dtype:
    def __reduce__(self):
        return (np_dtype, ("f4", False, True), (3, "<", None, None, None, -1, -1, 0))


class Array:
    """A float32 numpy array, pickled the way numpy does."""

    def __reduce__(self):
        state = (1, (3,), Dtype(), False, struct.pack("<3f", 1, 2, 3))
        return (reconstruct, (ndarray, (0,), b"b"), state)


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", FloatStorage, obj.key, "cpu", obj.numel)
        return None


def state_dict():
    return collections.OrderedDict([
        ("layer.weight", Tensor(Storage("0", 6), [2, 3])),
        ("layer.bias", Tensor(Storage("1", 2), [2])),
    ])


def torch_pickle(obj, proto=2):
    buf = io.BytesIO()
    TorchPickler(buf, protocol=proto).dump(obj)
    return check(buf.getvalue())


def torch_zip(pkl, extra=(), prefix="archive"):
    """The layout torch.save writes: stored members under one directory."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        def add(name, data):
            zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(zi, data)
        add(prefix + "/data.pkl", pkl)
        add(prefix + "/byteorder", b"little")
        add(prefix + "/data/0", struct.pack("<6f", *range(6)))
        add(prefix + "/data/1", struct.pack("<2f", 7, 8))
        for name, data in extra:
            add(name, data)
        add(prefix + "/version", b"3\n")
        add(prefix + "/.data/serialization_id", b"1234567890")
    return buf.getvalue()


# --- malicious reducers ---------------------------------------------------

class Reduce:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def sd_with(obj):
    d = state_dict()
    d["extra"] = obj
    return d


# --- opcode assembler for hand-made pickles --------------------------------

def u(s):
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def build_corpus():
    # Benign state dicts in every protocol family.
    for proto in (0, 2, 4, 5):
        obj = collections.OrderedDict([("weights", Array()), ("step", 1000), ("ids", {1, 2}),
                                       ("raw", bytearray(b"xyz")), ("lr", 0.5)])
        write(f"benign_numpy_p{proto}.pkl", check(pickle.dumps(obj, protocol=proto)))
    for proto in (2, 4, 5):
        write(f"benign_torch_p{proto}.pkl", torch_pickle(state_dict(), proto))
    write("benign_torch.pt", torch_zip(torch_pickle(state_dict())))
    write("benign_torch_other_prefix.bin", torch_zip(torch_pickle(state_dict()), prefix="pytorch_model"))

    # torch.save's legacy (pre-1.6) format: five pickles, then raw storages
    # (here bytes that would parse as a malicious pickle: torch never
    # unpickles them, so the scanner must not walk them).
    legacy = (pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2) + pickle.dumps(1001, protocol=2) +
              pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2) +
              torch_pickle(state_dict()) + pickle.dumps(["0", "1"], protocol=2) +
              b"\x80\x02cos\nsystem\n(S'id'\ntR." + struct.pack("<6f", *range(6)))
    write("benign_legacy.bin", legacy)

    # An import on neither list (what fairseq checkpoints carry).
    import argparse
    write("unknown_namespace.pkl", check(pickle.dumps({"args": argparse.Namespace(lr=1)}, protocol=2)))

    # __reduce__ to code execution, in several protocols.
    for proto in (0, 2, 4):
        obj = collections.OrderedDict([("weights", Array()), ("extra", Reduce(os.system, "echo pwned"))])
        write(f"mal_os_system_p{proto}.pkl", check(pickle.dumps(obj, protocol=proto)))
    write("mal_exec.pkl", check(pickle.dumps(Reduce(exec, "import os; os.system('id')"), protocol=2)))
    write("mal_popen.pkl", check(pickle.dumps(Reduce(subprocess.Popen, ["id"]), protocol=4)))
    import functools
    write("mal_partial.pkl", check(pickle.dumps(Reduce(functools.partial(os.system, "id")), protocol=2)))

    # eval reached through getattr(__import__('builtins'), 'eval').
    write("mal_getattr_eval.pkl", check(
        b"\x80\x02cbuiltins\ngetattr\ncbuiltins\n__import__\n" + u("builtins") + b"\x85R" +
        u("eval") + b"\x86R" + u("print('pwned')") + b"\x85R."))

    # STACK_GLOBAL whose names come from memoised strings, gathered by BINGET
    # after a decoy state dict entry.
    write("mal_memo_stack_global.pkl", check(
        b"\x80\x04}\x94(" + u("w") + b"\x94K\x01" + u("p") + b"\x94" + u("os") + b"\x94" + u("system") +
        b"\x94" + b"00" + b"h\x03h\x04\x93" + u("id") + b"\x85Ru."))
    # The same with LONG_BINPUT/LONG_BINGET and names written as protocol-0
    # escapes (UNICODE raw-unicode-escape, STRING with \x escapes).
    write("mal_escaped_names.pkl", check(
        b"\x80\x04" + b"V\\u006f\\u0073\nr\x10\x00\x00\x000" + b"S'sys\\x74em'\nr\x11\x00\x00\x000" +
        b"j\x10\x00\x00\x00j\x11\x00\x00\x00\x93" + u("id") + b"\x85R."))
    # Names computed by an allowed call: _codecs.encode('bf', 'rot13') == 'os'.
    write("mal_rot13_name.pkl", check(
        b"\x80\x04c_codecs\nencode\n" + u("bf") + u("rot13") + b"\x86R" + u("system") + b"\x93" +
        u("id") + b"\x85R."))
    # BUILD on an imported class rewrites it for every later user.
    write("mal_build_on_global.pkl", check(
        b"\x80\x02ccollections\nOrderedDict\nN}" + u("__reduce__") + b"K\x01s\x86b."))
    # An extension-registry import.
    write("unknown_ext.pkl", check(b"\x80\x02\x82\x01)R."))

    # A pickle inside a pickle's bytes, handed to pickle.loads.
    inner = pickle.dumps(Reduce(exec, "print('inner')"), protocol=4)
    write("mal_nested_pickle.pkl", check(pickle.dumps(Reduce(pickle.loads, inner), protocol=2)))
    write("mal_nested_pickle_p4.pkl", check(pickle.dumps(Reduce(pickle.loads, inner), protocol=4)))

    # Truncated streams and concatenated pickles.
    good = torch_pickle(state_dict())
    write("trunc_benign.pkl", good[: len(good) // 2])
    bad = pickle.dumps(Reduce(os.system, "id"), protocol=2)
    write("trunc_malicious.pkl", bad[:-3])
    write("two_pickles.pkl", good + bad)

    # PyTorch zips with malicious pickles.
    write("mal_torch_data.pt", torch_zip(torch_pickle(sd_with(Reduce(os.system, "id")))))
    write("mal_torch_hidden_member.pt", torch_zip(torch_pickle(state_dict()),
                                                  extra=[("archive/.hidden/x.pkl", bad)]))
    write("mal_torch_no_suffix.pt", torch_zip(torch_pickle(state_dict()),
                                              extra=[("archive/extra/blob", pickle.dumps(Reduce(exec, "1"), protocol=4))]))
    write("mal_torch_proto0_member.ckpt", torch_zip(torch_pickle(state_dict()),
                                                    extra=[("archive/notes", pickle.dumps(Reduce(os.system, "id"), protocol=0))]))
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("inner/model.pt", date_time=(1980, 1, 1, 0, 0, 0)),
                   torch_zip(torch_pickle(sd_with(Reduce(os.system, "id")))))
    write("mal_nested_zip.zip", outer.getvalue())
    # A pickled storage the way torch pickles one outside torch.save: its
    # bytes are a whole torch zip, here a malicious one.
    storage = types.ModuleType("torch.storage")
    sys.modules["torch.storage"] = storage
    load_from_bytes = function(storage, "_load_from_bytes")
    write("mal_storage_bytes.pkl", check(pickle.dumps(
        Reduce(load_from_bytes, torch_zip(torch_pickle(sd_with(Reduce(os.system, "id"))))), protocol=2)))

    # numpy .npy of an object dtype carries a pickle after its header.
    hdr = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    hdr += b" " * (63 - (10 + len(hdr)) % 64) + b"\n"
    write("mal_object.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr +
          pickle.dumps([Reduce(os.system, "id")], protocol=3))

    # joblib.dump of a numpy array writes a NumpyArrayWrapper, then the
    # array's raw bytes into the stream; joblib.load then goes on unpickling,
    # here a reducer to os.system the scanner cannot reach.
    jl = module("joblib")
    jnp = module("joblib.numpy_pickle")
    jl.numpy_pickle = jnp
    Wrapper = klass(jnp, "NumpyArrayWrapper")

    class RawArray:
        pass

    class JoblibPickler(pickle._Pickler):
        def save(self, obj, save_persistent_id=True):
            if isinstance(obj, RawArray):
                w = Wrapper()
                w.__dict__.update(subclass=ndarray, shape=(4,), order="C", dtype=Dtype(),
                                  allow_mmap=False, numpy_array_alignment_bytes=16)
                super().save(w)
                self.write(b"\x0f" + b"\xff" * 15 + struct.pack("<4f", 1, 2, 3, 4))
                return
            super().save(obj, save_persistent_id)

    buf = io.BytesIO()
    JoblibPickler(buf, protocol=2).dump([RawArray(), Reduce(os.system, "id")])
    write("mal_joblib_after_array.joblib", buf.getvalue())

    # Compressed pickles: pickle.load(gzip.open(...)) and joblib.dump(compress=...).
    import gzip
    import lzma
    import zlib
    write("benign_gzip.pkl.gz", gzip.compress(torch_pickle(state_dict()), mtime=0))
    write("mal_gzip.pkl.gz", gzip.compress(bad, mtime=0))
    write("mal_zlib.joblib", zlib.compress(pickle.dumps(sd_with(Reduce(exec, "1")), protocol=4)))
    write("unknown_xz.joblib", lzma.compress(good))

    build_safetensors()
    build_gguf()


# --- safetensors ------------------------------------------------------------

def safetensors(header, data, pad=True):
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def build_safetensors():
    good = {"__metadata__": {"format": "pt"},
            "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
            "b": {"dtype": "BF16", "shape": [4], "data_offsets": [24, 32]}}
    write("good.safetensors", safetensors(good, bytes(32)))
    overlap = json.loads(json.dumps(good))
    overlap["b"]["data_offsets"] = [16, 24]
    overlap["b"]["shape"] = [4]
    write("bad_overlap.safetensors", safetensors(overlap, bytes(32)))
    size = json.loads(json.dumps(good))
    size["a"]["shape"] = [3, 3]
    write("bad_shape.safetensors", safetensors(size, bytes(32)))
    past = json.loads(json.dumps(good))
    past["b"]["data_offsets"] = [24, 40]
    past["b"]["shape"] = [8]
    write("bad_past_end.safetensors", safetensors(past, bytes(32)))
    write("bad_header_len.safetensors", struct.pack("<Q", 1 << 40) + b'{"a":1}')
    write("bad_json.safetensors", struct.pack("<Q", 10) + b'{"a": [1,  ' + bytes(8))
    dtype = json.loads(json.dumps(good))
    dtype["a"]["dtype"] = "F31"
    write("bad_dtype.safetensors", safetensors(dtype, bytes(32)))


# --- GGUF -------------------------------------------------------------------

def gguf(tensors, align=32, version=3, magic=b"GGUF"):
    """tensors: (name, dims, ggml type, offset, nbytes)."""
    def s(x):
        b = x.encode()
        return struct.pack("<Q", len(b)) + b
    out = magic + struct.pack("<IQQ", version, len(tensors), 2)
    out += s("general.architecture") + struct.pack("<I", 8) + s("llama")
    out += s("general.alignment") + struct.pack("<II", 4, align)
    for name, dims, typ, off, _ in tensors:
        out += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", typ, off)
    out += bytes(-len(out) % align)
    end = max((off + n for _, _, _, off, n in tensors), default=0)
    return out + bytes(end)


def build_gguf():
    good = [("a", [8, 2], 0, 0, 64), ("b", [32], 8, 64, 34)]
    write("good.gguf", gguf(good))
    write("bad_overlap.gguf", gguf([("a", [8, 2], 0, 0, 64), ("b", [8], 0, 32, 32)]))
    write("bad_misaligned.gguf", gguf([("a", [8, 2], 0, 4, 64)]))
    data = gguf(good)
    write("bad_past_end.gguf", data[:-40])
    write("bad_version.gguf", gguf(good, version=7))
    write("bad_type.gguf", gguf([("a", [8, 2], 99, 0, 64)]))


# --- differential set ---------------------------------------------------------
#
# Random object graphs (every protocol, shared references, escapes in
# strings, nested class names, reducers with state), half of them passed
# through pickletools.optimize. The expected imports are what CPython's own
# unpickler asks find_class for: a recording subclass that returns a harmless
# stand-in class, so loading runs no code but the stand-in's.

class Recorder(pickle.Unpickler):
    class Dummy:
        def __init__(self, *a, **k):
            pass

        def __call__(self, *a, **k):
            return Recorder.Dummy()

        def __setstate__(self, state):
            pass

    def __init__(self, f):
        super().__init__(f)
        self.seen = []

    def find_class(self, module, name):
        self.seen.append([module, name])
        return Recorder.Dummy


def build_differential(n=200):
    import random
    rng = random.Random(15)
    mods = []
    for i in range(4):
        setattr(module(f"pkg{i}"), "sub", None)
        m = module(f"pkg{i}.sub")
        fns = [function(m, f"fn{j}") for j in range(3)]
        outer = klass(m, "Outer")
        inner = type("Inner", (), {})
        inner.__module__, inner.__qualname__ = m.__name__, "Outer.Inner"
        outer.Inner = inner
        mods.append((fns, inner))

    def rstr():
        alphabet = "ab\\'\"\n\x00\xe9\u20ac\U0001F600 u\\u0041"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))

    pool = []

    def obj(d):
        if pool and rng.random() < 0.15:
            return rng.choice(pool)
        k = rng.randint(0, 14 if d < 4 else 6)
        fns, inner = rng.choice(mods)
        v = [lambda: rng.randint(-2**70, 2**70), rng.random, rstr,
             lambda: bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 10))),
             lambda: None, lambda: rng.random() < 0.5, lambda: rng.randint(0, 300),
             lambda: [obj(d + 1) for _ in range(rng.randint(0, 5))],
             lambda: {rstr(): obj(d + 1) for _ in range(rng.randint(0, 4))},
             lambda: tuple(obj(d + 1) for _ in range(rng.randint(0, 5))),
             lambda: frozenset(rng.randint(0, 9) for _ in range(rng.randint(0, 3))),
             lambda: bytearray(b"xy"),
             lambda: Reduce(rng.choice(fns), *(obj(d + 1) for _ in range(rng.randint(0, 2)))),
             lambda: Stateful(rng.choice(fns), {"a": obj(d + 1)}),
             lambda: Reduce(inner, obj(d + 1))][k]()
        pool.append(v)
        return v

    os.makedirs(os.path.join(OUT, "diff"), exist_ok=True)
    cases = []
    for i in range(n):
        pool.clear()
        data = pickle.dumps(obj(0), protocol=i % 6)
        if rng.random() < 0.5:
            data = pickletools.optimize(data)
        rec = Recorder(io.BytesIO(data))
        rec.load()
        name = f"r{i:03d}.pkl"
        with open(os.path.join(OUT, "diff", name), "wb") as f:
            f.write(data)
        cases.append({"file": name, "imports": rec.seen})
    with open(os.path.join(OUT, "diff", "expected.json"), "w") as f:
        json.dump(cases, f, indent=0)


class Stateful:
    def __init__(self, fn, state):
        self.fn, self.state = fn, state

    def __reduce__(self):
        return (self.fn, (), self.state)


def main():
    build_corpus()
    build_differential()
    with open(os.path.join(OUT, "MANIFEST"), "w") as f:
        for name in sorted(written):
            f.write(name + "\n")


if __name__ == "__main__":
    main()
