#!/usr/bin/env python3
"""Reference outputs for the chat-template engine (tests/engine/template/chat_template_test.cpp).

Renders every tests/fixtures/templates/*.jinja over every conversation in
tests/fixtures/templates/conversations.json (and each snippet of snippets.json) with Python's jinja2, configured as HF transformers
renders chat templates (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
tojson with ensure_ascii=False, raise_exception, strftime_now at a fixed date), and writes
tests/fixtures/templates/expected.json. With --from-gguf FILE..., first stores the chat template
of each GGUF file as tests/fixtures/templates/<name>.jinja (needs the `gguf` package).

Run: ${GB_PYTHON:-python3} tools/gen_template_fixtures.py [--from-gguf NAME=PATH ...]
"""
import argparse
import datetime
import json
import os
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.path.join(ROOT, "tests", "fixtures", "templates")
FIXED_NOW = datetime.datetime(2026, 3, 14, 12, 0, 0)  # the C++ test pins the same instant (UTC)

# Special tokens each template family expects; the engine gets the same strings.
TOKENS = {
    "chatml": ("", "<|im_end|>"),
    "smollm2": ("<|im_start|>", "<|im_end|>"),
    "qwen2.5-coder": ("", "<|im_end|>"),
    "qwen3": ("", "<|im_end|>"),
    "deepseek-v3": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "deepseek-r1": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "deepseek-r1-distill": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "llama3.1": ("<|begin_of_text|>", "<|eot_id|>"),
    "mistral": ("<s>", "</s>"),
    "gemma": ("<bos>", "<eos>"),
    "features": ("<s>", "</s>"),
}

# Extra variables tried per template beyond the defaults (HF passes these as template kwargs).
EXTRA_VARIANTS = {
    "qwen3": [{}, {"enable_thinking": False}, {"enable_thinking": True}],
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


def store_gguf_template(name, path):
    import gguf  # only needed for this step

    reader = gguf.GGUFReader(path)
    field = reader.fields["tokenizer.chat_template"]
    text = bytes(field.parts[field.data[0]]).decode("utf-8")
    with open(os.path.join(DIR, name + ".jinja"), "w", encoding="utf-8", newline="") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--from-gguf", nargs="*", default=[], metavar="NAME=PATH")
    args = ap.parse_args()
    for item in args.from_gguf:
        name, path = item.split("=", 1)
        store_gguf_template(name, os.path.expanduser(path))

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
                    case = {
                        "template": name,
                        "conversation": conv["name"],
                        "add_generation_prompt": agp,
                        "bos_token": bos,
                        "eos_token": eos,
                        "vars": variables,
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
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote %d cases for %d templates" % (len(cases), len(names)), file=sys.stderr)


if __name__ == "__main__":
    main()
