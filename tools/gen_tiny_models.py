#!/usr/bin/env python3
"""Writes tests/fixtures/models/<name>.gguf + <name>.json: tiny random-weight transformers
(llama, qwen2, qwen3, rope-scaling variants, llama with attention biases) in F32 GGUF, with golden logits computed by
Hugging Face transformers (an independent reference), never by Glassbox itself.

Usage: ${GB_PYTHON:-python3} tools/gen_tiny_models.py [out_dir] [--check-llamacpp]
                                                       [--check-convert=GLASSBOX_CLI]
                                                       [--only=NAME[,NAME]]
  needs numpy, gguf, torch, transformers (tools/setup_python_env.sh --full).
  --check-llamacpp also runs each GGUF through llama-cpp-python on the same token ids and
  prints the largest logit difference to the HF reference (a check of the GGUF writing).
  --check-convert=PATH converts each HF checkpoint with `PATH convert` (glassbox-cli) to F32
  and Q8_0 GGUF and runs those through llama-cpp-python the same way (a check that our
  converter writes what llama.cpp expects).
  --only=NAME[,NAME] writes just those fixtures (the others stay as committed).

Each model is also saved as a Hugging Face checkpoint (save_pretrained: config.json +
model.safetensors, F32) in hf/<name>/, and tiny_llama once more in BF16 as hf/tiny_llama_bf16/
(the BF16 rounding is torch's; tests compare it with the F32 weights).

Each JSON holds:
  prompt_ids        the fixed prompt (token ids; the first is BOS)
  prompt_logits     HF logits at every prompt position   [len(prompt)][vocab]
  generated_ids     16 greedy (argmax) continuation tokens; EOS does not stop generation
  logits            the logits each generated token was chosen from [16][vocab]
                    (logits[0] equals prompt_logits[-1])
  top2_margin       top-1 minus top-2 logit per step (seeds are picked so this is never tiny,
                    so greedy decoding is stable under float reordering, and so the greedy
                    path is not a single repeated token)
  rope              the HF rotary inverse frequencies and cos/sin scale (attention_scaling)
  config            the HF config the model was built from
All weights are float32 and computed in float32 on the CPU.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import transformers
from gguf import GGUFWriter, LlamaFileType, RopeScalingType, TokenType

VOCAB = 512
BOS, EOS = 510, 511
PROMPT_BODY = [72, 101, 300, 7, 255, 42, 401]  # after BOS: 8 prompt tokens in all
N_GEN = 16
MIN_MARGIN = 0.02
MIN_DISTINCT = 8  # distinct tokens among the 16 generated: a path that is not one repeated token

COMMON = dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
              intermediate_size=128, vocab_size=VOCAB, rms_norm_eps=1e-6,
              bos_token_id=BOS, eos_token_id=EOS, hidden_act="silu")

# name -> (HF architecture, config overrides). rope_scaling is given in the classic HF form;
# transformers >= 5 moves it (and rope_theta) into config.rope_parameters.
FIXTURES = {
    "tiny_llama": ("llama", dict(num_hidden_layers=3, rope_theta=10000.0,
                                 max_position_embeddings=256, tie_word_embeddings=False)),
    # Llama 3.1-style per-dimension rope factors; a low rope_theta and a short original context
    # put the 8 frequency pairs on all three branches (kept, blended, divided by factor).
    "tiny_llama3_rope": ("llama", dict(
        num_hidden_layers=2, rope_theta=100.0, max_position_embeddings=256,
        tie_word_embeddings=True,
        rope_scaling={"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 64})),
    "tiny_qwen2": ("qwen2", dict(num_hidden_layers=2, rope_theta=1e6,
                                 max_position_embeddings=512, tie_word_embeddings=True)),
    "tiny_qwen2_yarn": ("qwen2", dict(
        num_hidden_layers=2, rope_theta=10000.0, max_position_embeddings=128,
        tie_word_embeddings=False,
        rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32})),
    "tiny_qwen3": ("qwen3", dict(num_hidden_layers=3, rope_theta=1e6,
                                 max_position_embeddings=512, tie_word_embeddings=False)),
    # Llama with attention_bias: biases on q, k, v and on the output projection.
    "tiny_llama_bias": ("llama", dict(num_hidden_layers=2, rope_theta=10000.0,
                                      max_position_embeddings=256, tie_word_embeddings=False,
                                      attention_bias=True)),
}

HF_CLASSES = {
    "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
    "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
    "qwen3": (transformers.Qwen3Config, transformers.Qwen3ForCausalLM),
}


def byte_chars():
    """The byte-level BPE alphabet: printable Latin-1 bytes stand for themselves, every other
    byte for the next free code point from U+0100 on, in byte order."""
    keep = set(range(ord("!"), ord("~") + 1)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    chars, extra = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def tiny_vocab():
    """A small but genuine byte-level BPE vocabulary: ids 0..255 are the bytes, 256..509 are
    merges (space+letter, then letter pairs), 510/511 are BOS/EOS control tokens."""
    chars = byte_chars()
    space = chars[ord(" ")]
    letters = "etaoinshrdlucmfwypvbgkjqxz"
    pairs = [(space, c) for c in letters] + [(a, b) for a in letters for b in letters]
    pairs = pairs[: BOS - 256]
    tokens = chars + [a + b for a, b in pairs] + ["<s>", "</s>"]
    types = [TokenType.NORMAL] * BOS + [TokenType.CONTROL] * 2
    merges = [f"{a} {b}" for a, b in pairs]
    assert len(tokens) == VOCAB and len(set(tokens)) == VOCAB
    return tokens, types, merges


def init_weights(model, seed):
    """Random weights at a scale that keeps activations O(1) and logits spread over a few units,
    so softmax and argmax are far from degenerate (HF's default 0.02 init gives near-flat logits)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name:
                p.copy_(0.35 * torch.randn(p.shape, generator=g))
            elif "lm_head" in name:
                p.copy_(2.5 * torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
            elif "o_proj" in name or "down_proj" in name:
                # Layers write strongly into the residual stream, so that (with tied embeddings)
                # the output is not dominated by the current token's own embedding.
                p.copy_(2.0 * torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
            else:  # Linear (out, in)
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))


def interleave_rope_rows(w, n_heads):
    """HF llama checkpoints order each head's Q/K rows as two rotary halves (x0..x_{d/2-1},
    then their partners); GGUF llama files put each rotated pair on adjacent rows. Row 2j+p of
    a head in the GGUF layout is row p*d/2+j of the HF layout (the layout llama GGUFs use)."""
    rows = w.shape[0]
    d = rows // n_heads
    src = np.empty(rows, dtype=np.int64)
    for h in range(n_heads):
        for j in range(d // 2):
            for p in range(2):
                src[h * d + 2 * j + p] = h * d + p * (d // 2) + j
    return w[src]


def llama3_rope_factors(rp, head_dim):
    """Per frequency-pair divisors for Llama 3.1 rope scaling (stored as rope_freqs.weight):
    high frequencies kept, low ones divided by factor, a smooth blend in between."""
    base, factor = rp["rope_theta"], rp["factor"]
    lo, hi = rp["low_freq_factor"], rp["high_freq_factor"]
    orig = rp["original_max_position_embeddings"]
    out = []
    for i in range(0, head_dim, 2):
        wavelen = 2 * math.pi * base ** (i / head_dim)
        if wavelen < orig / hi:
            out.append(1.0)
        elif wavelen > orig / lo:
            out.append(factor)
        else:
            smooth = (orig / wavelen - lo) / (hi - lo)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def rope_params(cfg):
    rp = getattr(cfg, "rope_parameters", None)
    if rp:  # transformers >= 5
        return dict(rp)
    rp = dict(getattr(cfg, "rope_scaling", None) or {"rope_type": "default"})
    rp.setdefault("rope_type", rp.get("type", "default"))
    rp["rope_theta"] = cfg.rope_theta
    return rp


def write_gguf(path, arch, name, model, cfg):
    rp = rope_params(cfg)
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    n_layer, n_head, n_kv = cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads
    head_dim = cfg.head_dim

    w = GGUFWriter(path, arch)
    w.add_name(name)
    w.add_file_type(LlamaFileType.ALL_F32)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    if arch == "qwen3":
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(float(rp["rope_theta"]))
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    if rp["rope_type"] == "yarn":
        w.add_rope_scaling_type(RopeScalingType.YARN)
        w.add_rope_scaling_factor(float(rp["factor"]))
        w.add_rope_scaling_orig_ctx_len(int(rp["original_max_position_embeddings"]))
    tokens, types, merges = tiny_vocab()
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2" if arch.startswith("qwen") else "gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(BOS)
    w.add_eos_token_id(EOS)
    w.add_add_bos_token(arch == "llama")

    def t(gguf_name, hf_name, fn=None):
        a = sd[hf_name]
        w.add_tensor(gguf_name, np.ascontiguousarray(fn(a) if fn else a, dtype=np.float32))

    t("token_embd.weight", "model.embed_tokens.weight")
    if rp["rope_type"] == "llama3":
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(rp, head_dim))
    for i in range(n_layer):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        t(b + "attn_norm.weight", p + "input_layernorm.weight")
        if arch == "llama":
            t(b + "attn_q.weight", p + "self_attn.q_proj.weight",
              lambda a: interleave_rope_rows(a, n_head))
            t(b + "attn_k.weight", p + "self_attn.k_proj.weight",
              lambda a: interleave_rope_rows(a, n_kv))
        else:
            t(b + "attn_q.weight", p + "self_attn.q_proj.weight")
            t(b + "attn_k.weight", p + "self_attn.k_proj.weight")
        t(b + "attn_v.weight", p + "self_attn.v_proj.weight")
        if arch == "qwen2":
            for x in "qkv":
                t(f"{b}attn_{x}.bias", f"{p}self_attn.{x}_proj.bias")
        if arch == "llama" and getattr(cfg, "attention_bias", False):
            # q/k biases follow their rows into the adjacent-pair layout.
            t(b + "attn_q.bias", p + "self_attn.q_proj.bias",
              lambda a: interleave_rope_rows(a, n_head))
            t(b + "attn_k.bias", p + "self_attn.k_proj.bias",
              lambda a: interleave_rope_rows(a, n_kv))
            t(b + "attn_v.bias", p + "self_attn.v_proj.bias")
            t(b + "attn_output.bias", p + "self_attn.o_proj.bias")
        if arch == "qwen3":
            t(b + "attn_q_norm.weight", p + "self_attn.q_norm.weight")
            t(b + "attn_k_norm.weight", p + "self_attn.k_norm.weight")
        t(b + "attn_output.weight", p + "self_attn.o_proj.weight")
        t(b + "ffn_norm.weight", p + "post_attention_layernorm.weight")
        t(b + "ffn_gate.weight", p + "mlp.gate_proj.weight")
        t(b + "ffn_up.weight", p + "mlp.up_proj.weight")
        t(b + "ffn_down.weight", p + "mlp.down_proj.weight")
    t("output_norm.weight", "model.norm.weight")
    if not cfg.tie_word_embeddings:
        t("output.weight", "lm_head.weight")

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@torch.no_grad()
def reference(model, prompt):
    """Full-sequence forward passes (no KV cache, so nothing but the math is involved)."""
    ids = list(prompt)
    prompt_logits = model(torch.tensor([ids])).logits[0].float().numpy()
    steps, margins = [], []
    for _ in range(N_GEN):
        row = model(torch.tensor([ids])).logits[0, -1].float().numpy()
        top2 = np.sort(row)[-2:]
        steps.append(row)
        margins.append(float(top2[1] - top2[0]))
        ids.append(int(np.argmax(row)))
    return prompt_logits, ids[len(prompt):], steps, margins


def build(name, arch, overrides):
    cfg_cls, model_cls = HF_CLASSES[arch]
    cfg = cfg_cls(**COMMON, **overrides)
    cfg._attn_implementation = "eager"
    prompt = [BOS] + PROMPT_BODY
    # The first seed whose greedy path has clear winners and some variety.
    for seed in range(1000, 1500):
        torch.manual_seed(seed)
        model = model_cls(cfg).float().eval()
        init_weights(model, seed)
        if cfg.tie_word_embeddings:
            model.tie_weights()
        ref = reference(model, prompt)
        if min(ref[3]) >= MIN_MARGIN and len(set(ref[1])) >= MIN_DISTINCT:
            return cfg, model, prompt, seed, ref
    raise RuntimeError(f"{name}: no seed gave top-2 margins >= {MIN_MARGIN} and "
                       f"{MIN_DISTINCT} distinct tokens")


def floats(a):
    return [float(np.float32(x)) for x in np.asarray(a, dtype=np.float32).ravel()]


def check_llamacpp(gguf_path, prompt, gen, prompt_logits, steps):
    from llama_cpp import Llama
    # F32 K/V cache (type 0), so the only differences left are summation order.
    llm = Llama(model_path=gguf_path, n_ctx=64, n_batch=64, n_threads=2, logits_all=True,
                type_k=0, type_v=0, verbose=False)
    seq = prompt + gen[:-1]
    llm.eval(seq)
    got = np.array(llm.scores[: len(seq)])
    want = np.concatenate([prompt_logits, np.array(steps[1:])])
    return float(np.max(np.abs(got - want))), [int(x) for x in np.argmax(got[len(prompt) - 1:], 1)]


def write_hf(path, model, dtype=None):
    """save_pretrained in safetensors, keeping only config.json and model.safetensors."""
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(path, safe_serialization=True)
    for f in os.listdir(path):
        if f not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(path, f))


def check_convert(cli, hf_dir, prompt, gen, prompt_logits, steps):
    """Our converter's GGUF (F32 and Q8_0) through llama.cpp: largest logit difference to HF."""
    import subprocess
    import tempfile
    out = []
    for t in ("f32", "q8_0"):
        with tempfile.TemporaryDirectory() as tmp:
            g = os.path.join(tmp, "out.gguf")
            subprocess.run([cli, "convert", hf_dir, g, "--type", t], check=True,
                           stdout=subprocess.DEVNULL)
            diff, argmax = check_llamacpp(g, prompt, gen, prompt_logits, steps)
            out.append(f"{t} {diff:.2e}{'' if argmax == gen else ' (argmax differs)'}")
    return ", ".join(out)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    check = "--check-llamacpp" in sys.argv
    convert_cli = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--check-convert=")),
                       None)
    out_dir = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "tests",
                                                "fixtures", "models")
    os.makedirs(out_dir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    # --only NAME[,NAME]: regenerate just those fixtures.
    only = next((a.split("=", 1)[1].split(",") for a in sys.argv if a.startswith("--only=")), None)
    for name, (arch, overrides) in FIXTURES.items():
        if only and name not in only:
            continue
        cfg, model, prompt, seed, (prompt_logits, gen, steps, margins) = build(name, arch,
                                                                               overrides)
        gguf_path = os.path.join(out_dir, name + ".gguf")
        write_gguf(gguf_path, arch, name, model, cfg)
        rot = model.model.rotary_emb
        doc = {
            "model_file": name + ".gguf",
            "arch": arch,
            "generator": f"tools/gen_tiny_models.py (transformers {transformers.__version__}, "
                         f"torch {torch.__version__.split('+')[0]}), seed {seed}",
            "config": {k: v for k, v in cfg.to_diff_dict().items()
                       if k not in ("transformers_version", "layer_types")},
            "rope": {"inv_freq": floats(rot.inv_freq),
                     "attention_scaling": float(rot.attention_scaling)},
            "prompt_ids": prompt,
            "generated_ids": gen,
            "top2_margin": [round(m, 6) for m in margins],
            "prompt_logits": [floats(r) for r in prompt_logits],
            "logits": [floats(r) for r in steps],
        }
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.write("\n")
        hf_dir = os.path.join(out_dir, "hf", name)
        write_hf(hf_dir, model)
        if name == "tiny_llama":
            write_hf(os.path.join(out_dir, "hf", name + "_bf16"), model, torch.bfloat16)
        msg = f"{name}: seed {seed}, generated {gen}, min margin {min(margins):.3f}"
        if convert_cli:
            msg += "; converted -> llama.cpp max |dlogit| " + check_convert(
                convert_cli, hf_dir, prompt, gen, prompt_logits, steps)
        if check:
            diff, cpp_argmax = check_llamacpp(gguf_path, prompt, gen, prompt_logits, steps)
            msg += f"; llama.cpp max |dlogit| {diff:.2e}, argmax agrees: {cpp_argmax == gen}"
        print(msg)


if __name__ == "__main__":
    main()
