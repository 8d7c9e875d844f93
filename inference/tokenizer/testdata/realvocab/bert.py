# Makes bert.json: python3 bert.py TOKENIZER_JSON GOLDEN_JSON > bert.json
# TOKENIZER_JSON is all-MiniLM-L6-v2's tokenizer.json; GOLDEN_JSON is what
# `go run ./bench embedcheck -golden` wrote for a model with that
# vocabulary (llama.cpp's prompts and token ids). Keeps the five specials
# and every token whose text (without its "▁" word-start mark) occurs in a
# prompt, lower-cased with each character reduced to the first code point
# of its NFD form (a superset of what WordPiece can look up).
import json, sys, unicodedata

vocab = json.load(open(sys.argv[1]))["model"]["vocab"]
golden = json.load(open(sys.argv[2]))

def norm(s):
    return "".join(unicodedata.normalize("NFD", c)[0].lower() for c in s)

texts = " ".join(norm(g["prompt"]) + " " + g["prompt"].lower() for g in golden)
special, tokens = {}, {}
for t, i in vocab.items():
    if t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"):
        special[str(i)] = t
        continue
    conv = t if t.startswith("[") and t.endswith("]") else t[2:] if t.startswith("##") else "\u2581" + t
    body = conv.lstrip("\u2581")
    if body and body in texts:
        tokens[str(i)] = conv
for g in golden:
    for i in g["tokens"]:
        assert str(i) in tokens or str(i) in special, (i, g["prompt"])
json.dump({"source": "all-MiniLM-L6-v2's WordPiece vocabulary (bert-base-uncased's, Apache-2.0), tokenizer.json of the Go module github.com/clems4ever/all-minilm-l6-v2-go v0.0.9, converted as llama.cpp's convert_hf_to_gguf.py does; ids from llama.cpp e4868d16 llama-embedding",
           "n_vocab": len(vocab), "tokens": tokens, "special": special,
           "cases": [{"text": g["prompt"], "ids": g["tokens"]} for g in golden]},
          sys.stdout, ensure_ascii=False, separators=(",", ":"))
