#!/usr/bin/env python3
"""Tokenizer speed: glassbox-cli against HF `tokenizers` (one thread) and llama.cpp, on the same
~1 MB of mixed text (tests/fixtures/tokenizer/corpus.txt repeated: code, whitespace runs,
digits, CJK, emoji, accents, RTL) with SmolLM2's vocabulary. Prints MB/s and the ratios, and
checks that the three produce the same number of tokens.

Usage: ${GB_PYTHON:-python3} tools/bench_tokenizer.py [MODEL.gguf | TOKENIZER_DIR] [--mb 1]
  A directory holding tokenizer.json (an HF checkpoint) is compared with HF `tokenizers` loading
  the same file (no llama.cpp row then).
  env: GB_CLI (default build/app/glassbox-cli). Needs tokenizers, gguf; llama-cpp-python optional.
"""
import os
import subprocess
import sys
import tempfile
import time

os.environ["TOKENIZERS_PARALLELISM"] = "false"  # HF on one thread, as we are
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from gen_tokenizer_fixtures import gguf_tokenizer_data, hf_smollm2, read_corpus  # noqa: E402


def best_of(n, fn):
    best = float("inf")
    out = None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    mb = float(sys.argv[sys.argv.index("--mb") + 1]) if "--mb" in sys.argv else 1.0
    models = os.environ.get("GLASSBOX_MODELS", os.path.expanduser("~/.cache/glassbox/models"))
    model = args[0] if args else os.path.join(models, "SmolLM2-135M-Instruct.Q4_1.gguf")
    cli = os.environ.get("GB_CLI", os.path.join(ROOT, "build", "app", "glassbox-cli"))

    lines = read_corpus(os.path.join(ROOT, "tests", "fixtures", "tokenizer", "corpus.txt"))
    block = "\n".join(lines) + "\n"
    text = block * max(1, int(mb * 1e6 / len(block.encode("utf-8"))))
    size = len(text.encode("utf-8"))

    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        f.write(text)
        path = f.name
    try:
        out = subprocess.run([cli, "tokenize", "-m", model, "-f", path, "--no-special", "--bench", "5"],
                             check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(path)
    ours = {k.strip(): v.strip() for k, v in (l.split(":", 1) for l in out.splitlines() if ":" in l)}
    ours_s, ours_n = float(ours["seconds"]), int(ours["tokens"])

    if os.path.isdir(model):
        from tokenizers import Tokenizer
        hf = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
        hf.encode_special_tokens = True  # as --no-special: special tokens' text is plain text
    else:
        hf = hf_smollm2(gguf_tokenizer_data(model), with_specials=False)
    hf_s, enc = best_of(5, lambda: hf.encode(text, add_special_tokens=False))
    rows = [("glassbox", ours_s, ours_n), ("HF tokenizers", hf_s, len(enc.ids))]
    try:
        if os.path.isdir(model):
            raise ImportError("llama.cpp reads GGUF only")
        import llama_cpp
        llm = llama_cpp.Llama(model_path=model, vocab_only=True, verbose=False)
        data = text.encode("utf-8")
        lc_s, ids = best_of(5, lambda: llm.tokenize(data, add_bos=False, special=False))
        rows.append(("llama.cpp", lc_s, len(ids)))
    except ImportError as e:
        print(f"llama.cpp row skipped: {e}")

    print(f"text: {size / 1e6:.2f} MB, model {os.path.basename(model)}, best of 5, one thread")
    print(f"{'tokenizer':<16}{'MB/s':>10}{'tokens':>12}{'glassbox is':>14}")
    for name, secs, n in rows:
        print(f"{name:<16}{size / 1e6 / secs:>10.2f}{n:>12}   {secs / ours_s:>9.2f}x as fast")
    if len({n for _, _, n in rows}) != 1:
        print("warning: the token counts differ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
