#!/usr/bin/env python3
"""Reference outputs for the chat-template engine (tests/engine/template/chat_template_test.cpp).

Renders every tests/fixtures/templates/*.jinja over every conversation in
tests/fixtures/templates/conversations.json (and each snippet of snippets.json) with Python's jinja2, configured as HF transformers
renders chat templates (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
tojson with ensure_ascii=False, raise_exception, strftime_now at a fixed date), and writes
tests/fixtures/templates/expected.json.

Storing real templates first (tests/fixtures/templates/SOURCES.md says where each came from):
  --from-gguf NAME=PATH ...          tokenizer.chat_template of a GGUF file -> NAME.jinja
  --from-tokenizer-config NAME=PATH  chat_template of an HF tokenizer_config.json (or its folder)
  --store-fetched [DIR]              every local source in LOCAL_SOURCES, from the files that
                                     tools/fetch_models.sh put in DIR (~/.cache/glassbox/models)
The GGUF header is read here directly, so a file cut off after its metadata (the
DeepSeek-R1-Distill-Qwen-7B part file) works too.

Run: ${GB_PYTHON:-python3} tools/gen_template_fixtures.py [--store-fetched] [--from-gguf NAME=PATH ...]
"""
import argparse
import datetime
import json
import os
import struct
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.path.join(ROOT, "tests", "fixtures", "templates")
FIXED_NOW = datetime.datetime(2026, 3, 14, 12, 0, 0)  # the C++ test pins the same instant (UTC)

# Special tokens each template expects (bos_token / eos_token of its model's tokenizer config).
DS_TOKENS = ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>")
TOKENS = {
    "deepseek-r1": DS_TOKENS,
    "deepseek-r1-0528-qwen3-8b": DS_TOKENS,
    "deepseek-r1-distill-llama-8b": DS_TOKENS,
    "deepseek-r1-distill-qwen-7b": DS_TOKENS,
    "deepseek-v3": DS_TOKENS,
    "qwen-2.5": ("", "<|im_end|>"),
    "qwen-3": ("", "<|im_end|>"),
    "qwq-32b": ("", "<|im_end|>"),
    "qwen2.5-coder": ("", "<|im_end|>"),
    "qwen3-0.6b": ("", "<|im_end|>"),
    "smollm2": ("<|im_start|>", "<|im_end|>"),
    "hermes-3-llama-3.1-8b-tool-use": ("<|begin_of_text|>", "<|im_end|>"),
    "llama-3.2-3b-instruct": ("<|begin_of_text|>", "<|eot_id|>"),
    "llama-3.3-70b-instruct": ("<|begin_of_text|>", "<|eot_id|>"),
    "gemma-2-2b-it": ("<bos>", "<eos>"),
    "mistral-nemo-instruct-2407": ("<s>", "</s>"),
    "mistral-small-3.2-24b-instruct-2506": ("<s>", "</s>"),
    "phi-3.5-mini-instruct": ("<s>", "<|endoftext|>"),
    "features": ("<s>", "</s>"),
}

# Real templates we can re-extract from the files tools/fetch_models.sh fetches (--store-fetched).
LOCAL_SOURCES = {
    "deepseek-r1": "tokenizers/deepseek-r1/tokenizer_config.json",
    "deepseek-r1-0528-qwen3-8b": "tokenizers/deepseek-r1-0528-qwen3-8b/tokenizer_config.json",
    "deepseek-r1-distill-llama-8b": "tokenizers/deepseek-r1-distill-llama-8b/tokenizer_config.json",
    "deepseek-r1-distill-qwen-7b": "tokenizers/deepseek-r1-distill-qwen-7b/tokenizer_config.json",
    "deepseek-v3": "tokenizers/deepseek-v3/tokenizer_config.json",
    "qwen-2.5": "tokenizers/qwen-2.5/tokenizer_config.json",
    "qwen-3": "tokenizers/qwen-3/tokenizer_config.json",
    "qwq-32b": "tokenizers/qwq-32b/tokenizer_config.json",
    "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "qwen2.5-coder": "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
    "deepseek-r1-distill-qwen-7b-gguf": "DeepSeek-R1-Distill-Qwen-7B.part0000.gguf",
}
TOKENS["deepseek-r1-distill-qwen-7b-gguf"] = DS_TOKENS

# Extra variables tried per template beyond the defaults (HF passes these as template kwargs).
THINKING = [{}, {"enable_thinking": False}, {"enable_thinking": True}]
EXTRA_VARIANTS = {
    "qwen-3": THINKING,
    "qwen3-0.6b": THINKING,
    "deepseek-r1-0528-qwen3-8b": THINKING,
    "features": [{}, {"enable_thinking": False}],
}


class TemplateRaised(Exception):
    pass


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def raise_exception(message):
        raise TemplateRaised(message)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: FIXED_NOW.strftime(fmt)
    return env


def gguf_chat_template(path):
    """tokenizer.chat_template from a GGUF header (v2/v3), reading only up to that key."""
    scalar = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
    with open(path, "rb") as f:
        def read(fmt):
            size = struct.calcsize(fmt)
            data = f.read(size)
            if len(data) != size:
                raise SystemExit("%s: file ends inside the GGUF header" % path)
            return struct.unpack(fmt, data)[0]

        def string():
            return f.read(read("<Q"))

        def skip(vtype):
            if vtype in scalar:
                f.seek(struct.calcsize(scalar[vtype]), 1)
            elif vtype == 8:
                f.seek(read("<Q"), 1)
            elif vtype == 9:
                item, count = read("<I"), read("<Q")
                if item in scalar:
                    f.seek(count * struct.calcsize(scalar[item]), 1)
                else:
                    for _ in range(count):
                        skip(item)
            else:
                raise SystemExit("%s: unknown GGUF value type %d" % (path, vtype))

        if f.read(4) != b"GGUF":
            raise SystemExit("%s: not a GGUF file" % path)
        if read("<I") < 2:
            raise SystemExit("%s: GGUF v1 is not supported" % path)
        read("<Q")  # tensor count
        for _ in range(read("<Q")):
            key = string().decode("utf-8")
            vtype = read("<I")
            if key == "tokenizer.chat_template" and vtype == 8:
                return string().decode("utf-8")
            skip(vtype)
    raise SystemExit("%s: no tokenizer.chat_template" % path)


def config_chat_template(path):
    if os.path.isdir(path):
        path = os.path.join(path, "tokenizer_config.json")
    with open(path, encoding="utf-8") as f:
        tmpl = json.load(f).get("chat_template")
    if isinstance(tmpl, list):  # several named templates: the default one is what HF renders
        tmpl = next(t["template"] for t in tmpl if t["name"] == "default")
    if not isinstance(tmpl, str):
        raise SystemExit("%s: no chat_template" % path)
    return tmpl


def store(name, text):
    with open(os.path.join(DIR, name + ".jinja"), "w", encoding="utf-8", newline="") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--from-gguf", nargs="*", default=[], metavar="NAME=PATH")
    ap.add_argument("--from-tokenizer-config", nargs="*", default=[], metavar="NAME=PATH")
    ap.add_argument("--store-fetched", nargs="?", const="~/.cache/glassbox/models", metavar="DIR")
    args = ap.parse_args()
    for item in args.from_gguf:
        name, path = item.split("=", 1)
        store(name, gguf_chat_template(os.path.expanduser(path)))
    for item in args.from_tokenizer_config:
        name, path = item.split("=", 1)
        store(name, config_chat_template(os.path.expanduser(path)))
    if args.store_fetched:
        base = os.path.expanduser(args.store_fetched)
        for name, rel in sorted(LOCAL_SOURCES.items()):
            path = os.path.join(base, rel)
            store(name, gguf_chat_template(path) if rel.endswith(".gguf") else config_chat_template(path))

    with open(os.path.join(DIR, "conversations.json"), encoding="utf-8") as f:
        conversations = json.load(f)
    env = make_env()
    cases = []
    names = sorted(n[:-6] for n in os.listdir(DIR) if n.endswith(".jinja"))
    for name in names:
        with open(os.path.join(DIR, name + ".jinja"), encoding="utf-8", newline="") as f:
            tmpl = env.from_string(f.read())
        bos, eos = TOKENS.get(name, ("", ""))
        for conv in conversations:
            for extra in EXTRA_VARIANTS.get(name, [{}]):
                for agp in (True, False):
                    variables = {"tools": None, "documents": None}  # HF passes both, None by default
                    variables.update(conv.get("vars", {}))
                    variables.update(extra)
                    # Rendered with {"tools": None, "documents": None} + the conversation's
                    # "vars" + "extra"; only "extra" is stored, to keep the file small.
                    case = {
                        "template": name,
                        "conversation": conv["name"],
                        "add_generation_prompt": agp,
                        "bos_token": bos,
                        "eos_token": eos,
                        "extra": extra,
                    }
                    try:
                        case["output"] = tmpl.render(messages=conv["messages"], add_generation_prompt=agp,
                                                     bos_token=bos, eos_token=eos, **variables)
                    except TemplateRaised as e:
                        case["raised"] = str(e)
                    except Exception as e:  # jinja2/Python error: the engine must fail too
                        case["error"] = type(e).__name__ + ": " + str(e)
                    cases.append(case)
    # Small snippets probing whitespace control, undefined, printing and filter edge cases.
    snippets = []
    with open(os.path.join(DIR, "snippets.json"), encoding="utf-8") as f:
        for source in json.load(f):
            entry = {"source": source}
            try:
                entry["output"] = env.from_string(source).render(d={}, s="héllo", messages=[])
            except TemplateRaised as e:
                entry["raised"] = str(e)
            except Exception as e:
                entry["error"] = type(e).__name__ + ": " + str(e)
            snippets.append(entry)
    out = {
        "generator": "tools/gen_template_fixtures.py (jinja2 %s)" % jinja2.__version__,
        "now_utc": FIXED_NOW.isoformat() + "Z",
        "cases": cases,
        "snippets": snippets,
    }
    with open(os.path.join(DIR, "expected.json"), "w", encoding="utf-8") as f:
        # One case per line: small, and a regenerated file diffs case by case.
        f.write("{\n")
        for key in ("generator", "now_utc"):
            f.write(" %s: %s,\n" % (json.dumps(key), json.dumps(out[key], ensure_ascii=False)))
        for key in ("cases", "snippets"):
            rows = [json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in out[key]]
            f.write(' "%s": [\n  %s\n ]%s\n' % (key, ",\n  ".join(rows), "," if key == "cases" else ""))
        f.write("}\n")
    print("wrote %d cases for %d templates" % (len(cases), len(names)), file=sys.stderr)


if __name__ == "__main__":
    main()
