#!/usr/bin/env python3
"""Writes tests/fixtures/llamacpp/<model>.json: llama.cpp's own tokenization and greedy
continuations of fixed prompts on the real test models, as an independent reference for
Glassbox's tokenizer, forward pass and sampler on quantised GGUF files.

Usage: ${GB_PYTHON:-python3} tools/gen_llamacpp_reference.py [out_dir]
  needs numpy and llama-cpp-python (tools/setup_python_env.sh --full) and the models fetched by
  tools/fetch_models.sh (in $GLASSBOX_MODELS or ~/.cache/glassbox/models); absent models are
  skipped with a note.

Each JSON holds {model_file, sha256, llama_cpp_python, settings, prompts:[...]}, a prompt being
  text            the raw prompt text
  parse_special   whether special tokens written in the text (<|im_start|>) were parsed as such
  prompt_ids      llama.cpp's tokens for it (BOS added only where the model asks for it)
  generated_ids   greedy (argmax) continuation, N_GEN tokens or up to and including an
                  end-of-generation token
  top1_logprobs   log_softmax(logits)[chosen] at each step
  top1_logprobs_f32_kv  the same tokens' logprobs from llama.cpp with an F32 KV cache (forced)
  top2_margin     top-1 minus top-2 logit at each step: where it is small, a numerically
                  different but correct engine may legitimately pick the other token
  top5            [[id, logprob] x5] at each step
"""
import hashlib
import json
import os
import sys

import numpy as np
from llama_cpp import Llama, __version__ as LLAMA_CPP_VERSION

N_GEN = 32
THREADS = 2
N_CTX = 512

CHATML = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
PROMPTS = [
    ("The capital of France is", False),
    (CHATML.format("Write a short poem about the sea."), True),
    ("def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n", False),
]

MODELS = ["SmolLM2-135M-Instruct.Q4_1.gguf", "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf"]


def models_dir():
    env = os.environ.get("GLASSBOX_MODELS")
    return env if env else os.path.join(os.path.expanduser("~"), ".cache", "glassbox", "models")


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def log_softmax(x):
    x = np.asarray(x, dtype=np.float64)
    m = x.max()
    return x - m - np.log(np.exp(x - m).sum())


def is_end_of_generation(llm, tok):
    import llama_cpp
    return bool(llama_cpp.llama_vocab_is_eog(llm._model.vocab, tok))


def greedy(llm, text, parse_special):
    ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=parse_special)
    llm.reset()
    llm.eval(ids)
    gen, lp1, margins, top5 = [], [], [], []
    for _ in range(N_GEN):
        logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        order = np.argsort(-logits, kind="stable")
        tok = int(order[0])
        lsm = log_softmax(logits)
        gen.append(tok)
        lp1.append(round(float(lsm[tok]), 6))
        margins.append(round(float(logits[order[0]] - logits[order[1]]), 6))
        top5.append([[int(i), round(float(lsm[i]), 6)] for i in order[:5]])
        if is_end_of_generation(llm, tok):
            break
        llm.eval([tok])
    return {"text": text, "parse_special": parse_special, "prompt_ids": [int(t) for t in ids],
            "generated_ids": gen, "generated_text": llm.detokenize(gen).decode("utf-8", "replace"),
            "top1_logprobs": lp1, "top2_margin": margins, "top5": top5}


def forced_logprobs(llm, prompt_ids, gen):
    """log_softmax(logits)[gen[i]] at each step, feeding the given tokens (teacher forcing)."""
    llm.reset()
    llm.eval(list(prompt_ids) + list(gen[:-1]))
    n = len(prompt_ids)
    out = []
    for i, tok in enumerate(gen):
        logits = np.array(llm.scores[n - 1 + i], dtype=np.float32)
        out.append(round(float(log_softmax(logits)[tok]), 6))
    return out


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "tests", "fixtures", "llamacpp")
    os.makedirs(out_dir, exist_ok=True)
    for model_file in MODELS:
        path = os.path.join(models_dir(), model_file)
        if not os.path.exists(path):
            print(f"skipping {model_file}: not in {models_dir()} (run tools/fetch_models.sh)")
            continue
        # logits_all keeps every position's logits; the KV cache stays llama.cpp's default (F16).
        llm = Llama(model_path=path, n_ctx=N_CTX, n_batch=N_CTX, n_threads=THREADS,
                    logits_all=True, seed=0, verbose=False)
        doc = {
            "model_file": model_file,
            "sha256": sha256_of(path),
            "generator": "tools/gen_llamacpp_reference.py",
            "llama_cpp_python": LLAMA_CPP_VERSION,
            "settings": {"n_ctx": N_CTX, "n_threads": THREADS, "sampling": "greedy (argmax)",
                         "max_new_tokens": N_GEN, "kv_cache": "f16", "stop": "end-of-generation"},
            "prompts": [greedy(llm, text, special) for text, special in PROMPTS],
        }
        # The same tokens scored by llama.cpp with an F32 KV cache: how far llama.cpp's own
        # result moves with the cache precision, per step. On a small quantised model this is
        # often well above 1e-2, which is the noise floor any other implementation is held to.
        llm32 = Llama(model_path=path, n_ctx=N_CTX, n_batch=N_CTX, n_threads=THREADS,
                      logits_all=True, seed=0, verbose=False, type_k=0, type_v=0)
        for p in doc["prompts"]:
            p["top1_logprobs_f32_kv"] = forced_logprobs(llm32, p["prompt_ids"], p["generated_ids"])
        del llm32
        name = model_file.removesuffix(".gguf")
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump(doc, f, indent=1, ensure_ascii=False)
            f.write("\n")
        for p in doc["prompts"]:
            print(f"{model_file}: {len(p['prompt_ids'])} prompt ids, {len(p['generated_ids'])} "
                  f"generated, min margin {min(p['top2_margin']):.3f}: "
                  f"{p['generated_text'][:60]!r}")
        del llm


if __name__ == "__main__":
    main()
