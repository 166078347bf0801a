#!/usr/bin/env python3
"""Writes a random-weight mixture-of-experts GGUF with Qwen3-30B-A3B's per-layer shapes, for
speed comparisons with llama.cpp on the same file (tools/bench_vs_llamacpp.sh): hidden 2048,
32 query heads and 4 KV heads of 128 with q/k norms, 128 experts of width 768, top-8 with
renormalised weights, rope base 1e6; fewer layers than the real 48 so that it fits a small
machine, and a 32,000-token vocabulary (so that the output head, which is not what is being
compared, does not dominate a decode step).

Usage: ${GB_PYTHON:-python3} tools/gen_moe_bench_model.py OUT_DIR [--layers 8]
  writes OUT_DIR/moe_a3b_q8_0.gguf (Q8_0, ~5.4 GB with 8 layers; written by the gguf package)
  and OUT_DIR/moe_a3b_q4_k_m.gguf (the same model through llama.cpp's own quantiser, Q4_K_M:
  llama_cpp.llama_model_quantize from llama-cpp-python; skipped when that is not installed).
  needs numpy, gguf (and llama-cpp-python for Q4_K_M): tools/setup_python_env.sh --full.

Weights are random Q8_0 blocks (uniform codes, a scale giving each row an RMS of
1/sqrt(inputs)), norms are 1, the router is F32 N(0, 3/sqrt(2048)) so that the top-8 differs
from token to token. Only speed is measured on these files, never outputs.
"""
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter, LlamaFileType, TokenType

N_EMBD, N_HEAD, N_KV, HEAD_DIM = 2048, 32, 4, 128
N_EXPERT, N_USED, N_FF_EXP = 128, 8, 768
N_VOCAB = 32000


def q8_blocks(rng, rows, cols, lead=()):
    """Random Q8_0 rows as raw bytes: shape lead + (rows, cols / 32 * 34)."""
    nb = cols // 32
    shape = tuple(lead) + (rows, nb)
    scale = np.float16(np.sqrt(3.0) / 127.0 / np.sqrt(cols))
    blocks = np.empty(shape + (34,), dtype=np.uint8)
    blocks[..., 0:2] = np.frombuffer(np.array([scale], dtype=np.float16).tobytes(), dtype=np.uint8)
    blocks[..., 2:] = rng.integers(-127, 128, size=shape + (32,), dtype=np.int8).view(np.uint8)
    return blocks.reshape(tuple(lead) + (rows, nb * 34))


def vocab():
    """Bytes, letter pairs as merges, then filler tokens; BOS/EOS last. Enough for llama.cpp to
    load the file; both engines are fed random token ids."""
    chars = [chr(c) if 33 <= c <= 126 else chr(0x100 + c) for c in range(256)]
    letters = "etaoinshrdlucmfwypvbgkjqxz"
    pairs = [(a, b) for a in letters for b in letters]
    tokens = chars + [a + b for a, b in pairs]
    tokens += [f"<x{i}>" for i in range(N_VOCAB - 2 - len(tokens))] + ["<s>", "</s>"]
    types = [TokenType.NORMAL] * (N_VOCAB - 2) + [TokenType.CONTROL] * 2
    merges = [f"{a} {b}" for a, b in pairs]
    return tokens, types, merges


def write_q8(path, n_layer):
    rng = np.random.default_rng(30)
    qt = GGMLQuantizationType.Q8_0
    w = GGUFWriter(path, "qwen3moe")
    w.add_name(f"random Qwen3-30B-A3B-shaped MoE, {n_layer} layers")
    w.add_file_type(LlamaFileType.MOSTLY_Q8_0)
    w.add_context_length(40960)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(6144)
    w.add_expert_feed_forward_length(N_FF_EXP)
    w.add_expert_count(N_EXPERT)
    w.add_expert_used_count(N_USED)
    w.add_expert_weights_norm(True)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_KV)
    w.add_key_length(HEAD_DIM)
    w.add_value_length(HEAD_DIM)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_rope_freq_base(1e6)
    w.add_layer_norm_rms_eps(1e-6)
    tokens, types, merges = vocab()
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(N_VOCAB - 2)
    w.add_eos_token_id(N_VOCAB - 1)

    ones = lambda n: np.ones(n, dtype=np.float32)  # noqa: E731
    w.add_tensor("token_embd.weight", q8_blocks(rng, N_VOCAB, N_EMBD), raw_dtype=qt)
    for i in range(n_layer):
        b = f"blk.{i}."
        w.add_tensor(b + "attn_norm.weight", ones(N_EMBD))
        w.add_tensor(b + "attn_q.weight", q8_blocks(rng, N_HEAD * HEAD_DIM, N_EMBD), raw_dtype=qt)
        w.add_tensor(b + "attn_k.weight", q8_blocks(rng, N_KV * HEAD_DIM, N_EMBD), raw_dtype=qt)
        w.add_tensor(b + "attn_v.weight", q8_blocks(rng, N_KV * HEAD_DIM, N_EMBD), raw_dtype=qt)
        w.add_tensor(b + "attn_q_norm.weight", ones(HEAD_DIM))
        w.add_tensor(b + "attn_k_norm.weight", ones(HEAD_DIM))
        w.add_tensor(b + "attn_output.weight", q8_blocks(rng, N_EMBD, N_HEAD * HEAD_DIM),
                     raw_dtype=qt)
        w.add_tensor(b + "ffn_norm.weight", ones(N_EMBD))
        router = (rng.standard_normal((N_EXPERT, N_EMBD)) * (3 / np.sqrt(N_EMBD))).astype(np.float32)
        w.add_tensor(b + "ffn_gate_inp.weight", router)
        w.add_tensor(b + "ffn_gate_exps.weight", q8_blocks(rng, N_FF_EXP, N_EMBD, (N_EXPERT,)),
                     raw_dtype=qt)
        w.add_tensor(b + "ffn_up_exps.weight", q8_blocks(rng, N_FF_EXP, N_EMBD, (N_EXPERT,)),
                     raw_dtype=qt)
        w.add_tensor(b + "ffn_down_exps.weight", q8_blocks(rng, N_EMBD, N_FF_EXP, (N_EXPERT,)),
                     raw_dtype=qt)
    w.add_tensor("output_norm.weight", ones(N_EMBD))
    w.add_tensor("output.weight", q8_blocks(rng, N_VOCAB, N_EMBD), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def quantize_q4_k_m(src, dst):
    try:
        import llama_cpp
    except ImportError:
        print("llama-cpp-python is not installed: no Q4_K_M file (tools/setup_python_env.sh "
              "--full)", file=sys.stderr)
        return False
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    params.allow_requantize = True  # the source is Q8_0; these weights are random anyway
    params.nthread = os.cpu_count() or 1
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), params)
    if rc != 0:
        print(f"llama.cpp's quantiser failed ({rc})", file=sys.stderr)
        return False
    return True


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--layers", type=int, default=8)
    a = ap.parse_args()
    if a.layers < 1:
        ap.error("--layers must be at least 1")
    n_layer = a.layers
    args = [a.out_dir]
    out = args[0]
    os.makedirs(out, exist_ok=True)
    q8 = os.path.join(out, "moe_a3b_q8_0.gguf")
    if not os.path.exists(q8):
        write_q8(q8 + ".part", n_layer)
        os.replace(q8 + ".part", q8)
    print(q8)
    q4 = os.path.join(out, "moe_a3b_q4_k_m.gguf")
    if not os.path.exists(q4) and quantize_q4_k_m(q8, q4 + ".part"):
        os.replace(q4 + ".part", q4)
    if os.path.exists(q4):
        print(q4)


if __name__ == "__main__":
    main()
