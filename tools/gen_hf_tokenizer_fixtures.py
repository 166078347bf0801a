#!/usr/bin/env python3
"""Makes the golden data of tests/engine/tokenizer/tokenizer_hf_test.cpp: for each real
Hugging Face tokenizer (tokenizer.json + tokenizer_config.json fetched by tools/fetch_models.sh),
the ids of every corpus.txt line, of a few special-token texts and of the whole corpus as one
text, and the reference's decoding of those ids.

Usage: ${GB_PYTHON:-python3} tools/gen_hf_tokenizer_fixtures.py [NAME...]
  env: GLASSBOX_MODELS (default ~/.cache/glassbox/models). Needs tokenizers and transformers.

Writes tests/fixtures/tokenizer/hf/NAME.json with, per case, "text" (or "text_hex" for bytes
that are not UTF-8; the reference gets them decoded with errors='replace'):
  ids          tokenizers' Tokenizer.from_file(...).encode(text, add_special_tokens=False);
               transformers' AutoTokenizer gives the same (checked)
  plain        the same with encode_special_tokens=True: control tokens in the text are not
               matched (added non-special tokens still are)
  decoded      AutoTokenizer.decode(ids), and decoded_skip with skip_special_tokens=True
and, per tokenizer, add_prefix / add_suffix: the ids add_special_tokens=True puts around the
text. That is AutoTokenizer's, except that transformers >= 5 loads a byte-level tokenizer.json
whose tokenizer_config names a Llama tokenizer class through its generic backend, which adds
nothing; there transformers 4's LlamaTokenizerFast rule (add_bos_token / add_eos_token) is
recorded, as the models were trained and as llama.cpp converts them ("add_special_source").
"""
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from gen_tokenizer_fixtures import case_text, read_corpus_bytes  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "tokenizer"
MODELS = Path(os.environ.get("GLASSBOX_MODELS", Path.home() / ".cache/glassbox/models"))
NAMES = ["qwen-2.5", "qwen-3", "qwq-32b", "deepseek-r1", "deepseek-v3",
         "deepseek-r1-distill-qwen-7b", "deepseek-r1-distill-llama-8b", "deepseek-llm-7b-base",
         "deepseek-r1-0528-qwen3-8b"]
LLAMA_CLASSES = {"LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer",
                 "CodeLlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast"}


def special_cases(tok):
    """Texts with the tokenizer's own special and added tokens inside ordinary text."""
    added = [t.content for t in tok.get_added_tokens_decoder().values()]
    specials = [t.content for t in tok.get_added_tokens_decoder().values() if t.special]
    others = [t for t in added if t not in specials]
    s0 = specials[0] if specials else "<s>"
    s1 = specials[-1] if specials else "</s>"
    cases = [
        f"{s0}Hello{s1} world",
        f"text{s0}{s0}  {s1}\n{s1}x",
        f"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\nok\n</think>\n\nYes",
        f"<\uff5cUser\uff5c>1+1?<\uff5cAssistant\uff5c><think>\n2\n</think>",
        f"partial {s0[:-1]} and {s0[1:]} and {s0}{s0[:3]}",
    ]
    if others:
        cases.append(" ".join(others[:20]) + " " + "".join(others[:20]) + " end")
    return [c.encode("utf-8") for c in cases]


def make(name):
    from tokenizers import Tokenizer
    import transformers
    from transformers import AutoTokenizer
    d = MODELS / "tokenizers" / name
    raw = Tokenizer.from_file(str(d / "tokenizer.json"))
    plain = Tokenizer.from_file(str(d / "tokenizer.json"))
    plain.encode_special_tokens = True
    auto = AutoTokenizer.from_pretrained(str(d))
    cfg = json.loads((d / "tokenizer_config.json").read_text(encoding="utf-8"))

    probe = "x"
    base = auto(probe, add_special_tokens=False)["input_ids"]
    full = auto(probe, add_special_tokens=True)["input_ids"]
    k = full.index(base[0])
    prefix, suffix = full[:k], full[k + len(base):]
    source = "transformers " + transformers.__version__ + " AutoTokenizer"
    if (int(transformers.__version__.split(".")[0]) >= 5 and cfg.get("tokenizer_class") in LLAMA_CLASSES
            and not type(auto).__name__.startswith(("Llama", "CodeLlama", "Gemma"))):
        prefix = [auto.convert_tokens_to_ids(auto.bos_token)] if cfg.get("add_bos_token", True) else []
        suffix = [auto.convert_tokens_to_ids(auto.eos_token)] if cfg.get("add_eos_token", False) else []
        source = (f"tokenizer_config add_bos_token/add_eos_token of {cfg['tokenizer_class']} "
                  f"(transformers 4 rule; {transformers.__version__} loads {type(auto).__name__})")

    corpus = read_corpus_bytes(FIXTURES / "corpus.txt")
    texts = corpus + special_cases(raw) + [b"\n".join(corpus)]
    cases = []
    for b in texts:
        text = b.decode("utf-8", errors="replace")
        ids = raw.encode(text, add_special_tokens=False).ids
        assert auto(text, add_special_tokens=False)["input_ids"] == ids, (name, text[:40])
        with_special = auto(text, add_special_tokens=True)["input_ids"]
        if source.startswith("transformers"):
            assert with_special == prefix + ids + suffix, (name, text[:40])
        case = case_text(b)
        case.update(ids=ids, plain=plain.encode(text, add_special_tokens=False).ids,
                    decoded=auto.decode(ids, skip_special_tokens=False),
                    decoded_skip=auto.decode(ids, skip_special_tokens=True))
        cases.append(case)
    return {
        "generator": "tools/gen_hf_tokenizer_fixtures.py (tokenizers " + __import__("tokenizers").__version__
                     + ", transformers " + transformers.__version__ + ")",
        "tokenizer": name,
        "add_prefix": prefix,
        "add_suffix": suffix,
        "add_special_source": source,
        "cases": cases,
    }


def main():
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    out = FIXTURES / "hf"
    out.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[1:] or NAMES:
        if not (MODELS / "tokenizers" / name / "tokenizer.json").exists():
            print(f"{name}: not fetched (tools/fetch_models.sh), skipped", file=sys.stderr)
            continue
        data = make(name)
        path = out / f"{name}.json"
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
        print(f"wrote {path} ({path.stat().st_size} bytes, {len(data['cases'])} cases)")


if __name__ == "__main__":
    main()
