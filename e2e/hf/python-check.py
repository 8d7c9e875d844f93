# Python huggingface_hub against a Cairn daemon (HF_ENDPOINT set), with the
# same model folder as client.mjs. Usage: python3 python-check.py MODEL_DIR
# hf-client.sh runs it when huggingface_hub is importable (CI has no Python
# client: its registry is out of reach there).
import hashlib, os, sys, tempfile
from pathlib import Path
import huggingface_hub as hh
from huggingface_hub import HfApi, hf_hub_download, snapshot_download, get_hf_file_metadata, hf_hub_url
from huggingface_hub.utils import RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError

# Debian's filelock 3.9 predates the mode= argument huggingface_hub 1.x passes.
import inspect, filelock
import huggingface_hub.utils._fixes as fixes
if hasattr(fixes, "FileLock") and "mode" not in inspect.signature(filelock.FileLock.__init__).parameters:
    _FL = filelock.FileLock
    fixes.FileLock = lambda *a, mode=None, **k: _FL(*a, **k)
model_dir = Path(sys.argv[1])
repo = "acme/tiny"
api = HfApi()
fails = 0
def check(cond, msg):
    global fails
    print(("ok: " if cond else "FAIL: ") + msg)
    if not cond:
        fails += 1
local = {str(p.relative_to(model_dir)): p.read_bytes() for p in model_dir.rglob("*") if p.is_file()}
sha = lambda b: hashlib.sha256(b).hexdigest()

info = api.model_info(repo, files_metadata=True)
check(info.id == repo and info.sha and len(info.siblings) == len(local), f"model_info {info.id} {info.sha} {len(info.siblings)} siblings, last_modified {info.last_modified}")
st = [s for s in info.siblings if s.rfilename == "model.safetensors"][0]
check(st.lfs is not None and st.lfs.sha256 == sha(local["model.safetensors"]) and st.size == len(local["model.safetensors"]), f"sibling lfs {st.lfs}")
info2 = api.model_info(repo, revision="main", expand=["sha", "lastModified"])
check(info2.sha == info.sha, "model_info(revision=main, expand=...)")
files = api.list_repo_files(repo)
check(sorted(files) == sorted(local), f"list_repo_files {files}")
tree = list(api.list_repo_tree(repo, recursive=True, expand=True))
check(len(tree) == len(local) + 1, f"list_repo_tree {[(type(e).__name__, e.path) for e in tree]}")
pi = api.get_paths_info(repo, ["config.json", "extra", "model.safetensors", "nope"], expand=True)
check([e.path for e in pi] == ["config.json", "extra", "model.safetensors"], f"get_paths_info {[e.path for e in pi]}")
meta = get_hf_file_metadata(hf_hub_url(repo, "model.safetensors"))
check(meta.commit_hash == info.sha and meta.etag == sha(local["model.safetensors"]) and meta.size == len(local["model.safetensors"]), f"get_hf_file_metadata {meta.commit_hash} {meta.etag} {meta.size}")
with tempfile.TemporaryDirectory() as cache:
    for f in ["config.json", "model.safetensors", "extra/notes.txt"]:
        p = hf_hub_download(repo, f, cache_dir=cache)
        check(Path(p).read_bytes() == local[f], f"hf_hub_download {f}")
    snap = snapshot_download(repo, cache_dir=cache + "/snap")
    got = {str(p.relative_to(snap)): p.read_bytes() for p in Path(snap).rglob("*") if p.is_file()}
    check(got == local, f"snapshot_download {sorted(got)}")
    for fn, exc in [(lambda: hf_hub_download("acme/nope", "config.json", cache_dir=cache), RepositoryNotFoundError),
                    (lambda: hf_hub_download(repo, "config.json", revision="v9", cache_dir=cache), RevisionNotFoundError),
                    (lambda: hf_hub_download(repo, "nope.json", cache_dir=cache), EntryNotFoundError),
                    (lambda: api.model_info("acme/nope"), RepositoryNotFoundError)]:
        try:
            fn()
            check(False, f"want {exc.__name__}")
        except exc as e:
            check(True, f"{exc.__name__}")
        except Exception as e:
            check(False, f"want {exc.__name__}, got {type(e).__name__}: {e}")
print(f"huggingface_hub {hh.__version__}: {'PASS' if fails == 0 else f'{fails} FAILURES'}")
sys.exit(1 if fails else 0)
