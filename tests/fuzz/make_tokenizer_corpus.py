#!/usr/bin/env python3
"""Writes seeds for the tokenizer_json fuzzer into tests/fuzz/corpus/tokenizer_json/: the real
tokenizers in ~/.cache/glassbox/models/tokenizers (tools/fetch_models.sh) trimmed to their 256
byte symbols, their first merges whose parts and results stay in that small vocabulary, their
first added tokens, pre-tokenizer, normalizer, decoder and post-processor; each followed by a NUL
and a trimmed tokenizer_config.json (no chat template), and another NUL and a short text, which
is how the harness splits its input.
Usage: ${GB_PYTHON:-python3} tests/fuzz/make_tokenizer_corpus.py [tokenizers_dir] [out_dir]
"""
import json
import os
import sys

src = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/glassbox/models/tokenizers")
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "corpus",
                                                          "tokenizer_json")
TEXT = "Hi <|im_end|> 12 345 caf\u00e9 \u4e2d\u6587\n\n  x"

for name in sorted(os.listdir(src)):
    path = os.path.join(src, name, "tokenizer.json")
    if not os.path.exists(path):
        continue
    doc = json.load(open(path, encoding="utf-8"))
    model = doc["model"]
    byte_syms = {t: i for t, i in model["vocab"].items() if len(t) == 1 and ord(t) < 0x144}
    vocab = dict(sorted(byte_syms.items(), key=lambda kv: kv[1]))
    merges = []
    for m in model["merges"]:
        left, right = m.split(" ", 1) if isinstance(m, str) else m
        if left in vocab and right in vocab and len(merges) < 64:
            vocab.setdefault(left + right, model["vocab"][left + right])
            merges.append(m)
    # Renumber densely, as the reader refuses a table that is mostly holes.
    ids = {t: i for i, t in enumerate(vocab)}
    added = []
    for a in doc["added_tokens"][:12]:
        a = dict(a)
        a["id"] = len(ids) + len(added)
        added.append(a)
    small = {
        "version": doc.get("version", "1.0"),
        "added_tokens": added,
        "normalizer": doc.get("normalizer"),
        "pre_tokenizer": doc.get("pre_tokenizer"),
        "post_processor": doc.get("post_processor"),
        "decoder": doc.get("decoder"),
        "model": {k: v for k, v in model.items() if k not in ("vocab", "merges")},
    }
    small["model"]["vocab"] = ids
    small["model"]["merges"] = merges
    small["model"]["unk_token"] = None
    cfg = {}
    cfg_path = os.path.join(src, name, "tokenizer_config.json")
    if os.path.exists(cfg_path):
        full = json.load(open(cfg_path, encoding="utf-8"))
        for k in ("add_bos_token", "add_eos_token", "tokenizer_class"):
            if k in full:
                cfg[k] = full[k]
        names = {a["content"] for a in added}
        for k in ("bos_token", "eos_token", "pad_token"):
            v = full.get(k)
            content = v.get("content") if isinstance(v, dict) else v
            if content in names:
                cfg[k] = v
    blob = (json.dumps(small, ensure_ascii=False).encode() + b"\0" +
            json.dumps(cfg).encode() + b"\0" + TEXT.encode())
    with open(os.path.join(out, name + ".bin"), "wb") as fh:
        fh.write(blob)
    print(name, len(blob), "bytes")
