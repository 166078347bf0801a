#!/usr/bin/env python3
"""Writes tiny random-weight mixture-of-experts transformers (Qwen3-MoE, Mixtral, OLMoE) as
tests/fixtures/models/<name>.gguf + <name>.json, and their Hugging Face form (config.json +
model.safetensors, written by save_pretrained) under tests/fixtures/models/hf/<name>/. The
golden logits and expert choices come from Hugging Face transformers (an independent
reference), never from Glassbox itself.

Usage: ${GB_PYTHON:-python3} tools/gen_tiny_moe_models.py [out_dir] [--check-llamacpp]
                                                            [--only=NAME]
       ${GB_PYTHON:-python3} tools/gen_tiny_moe_models.py --bench-model=PATH
  --bench-model writes instead one mid-sized random Qwen3-MoE-shaped GGUF (Q8_0, ~0.3 GB; no
  reference, no transformers) for `glassbox-cli bench --routing`.
  needs numpy, gguf, torch, transformers (tools/setup_python_env.sh --full).
  --check-llamacpp also runs each GGUF through llama-cpp-python on the same token ids and
  prints the largest logit difference to the HF reference (a check of the GGUF writing).

Each JSON holds, besides what tools/gen_tiny_models.py writes (prompt_ids, prompt_logits,
generated_ids (32 greedy steps), logits, top2_margin, config):
  routing.layers    the MoE layers' indices
  routing.k         experts per token (num_experts_per_tok)
  routing.experts   [token][layer][k] the experts each router selected, best first, for every
                    prompt and generated token (all 32, the last one included)
  routing.weights   [token][layer][k] what multiplies each selected expert's output
  routing.probs     [token][layer][n_expert] the router's softmax over all experts
  routing.min_gap   smallest gap between the k-th and (k+1)-th router logit (seeds are
                    picked so that this is not tiny: the selection is stable under float
                    reordering)
The routing is captured with forward hooks on each layer's router (gate) module; the script
applies the family's top-k rule to the router logits itself and checks that it gives what the
router returned.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import transformers
from gguf import GGUFWriter, LlamaFileType

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_tiny_models import (BOS, EOS, PROMPT_BODY, VOCAB, floats,  # noqa: E402
                             interleave_rope_rows, rope_params, tiny_vocab)

N_GEN = 32
MIN_MARGIN = 0.02   # top-1 minus top-2 logit at every greedy step
MIN_GAP = 5e-3      # k-th minus (k+1)-th router logit, every token and layer
MIN_DISTINCT = 10

COMMON = dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
              vocab_size=VOCAB, rms_norm_eps=1e-6, bos_token_id=BOS, eos_token_id=EOS,
              hidden_act="silu", max_position_embeddings=256)

# name -> (GGUF architecture, HF config class, HF model class, config overrides)
FIXTURES = {
    "tiny_qwen3moe": ("qwen3moe", transformers.Qwen3MoeConfig, transformers.Qwen3MoeForCausalLM,
                      dict(num_hidden_layers=2, num_experts=8, num_experts_per_tok=2,
                           moe_intermediate_size=32, intermediate_size=96, norm_topk_prob=True,
                           decoder_sparse_step=1, mlp_only_layers=[], rope_theta=1e6,
                           tie_word_embeddings=False)),
    "tiny_mixtral": ("llama", transformers.MixtralConfig, transformers.MixtralForCausalLM,
                     dict(num_hidden_layers=2, num_local_experts=8, num_experts_per_tok=2,
                          intermediate_size=32, sliding_window=None, rope_theta=1e6,
                          tie_word_embeddings=False)),
    "tiny_olmoe": ("olmoe", transformers.OlmoeConfig, transformers.OlmoeForCausalLM,
                   # As in OLMoE-1B-7B, no grouped-query attention (llama.cpp assumes it).
                   dict(num_hidden_layers=2, num_experts=8, num_experts_per_tok=3,
                        num_key_value_heads=4,
                        intermediate_size=32, norm_topk_prob=False, rope_theta=10000.0,
                        clip_qkv=None, tie_word_embeddings=False)),
}


def n_experts(cfg):
    return getattr(cfg, "num_experts", None) or cfg.num_local_experts


def renormalises(arch, cfg):
    return arch == "llama" or bool(getattr(cfg, "norm_topk_prob", False))


def init_weights(model, seed):
    """Random weights at a scale that keeps activations O(1), logits spread over a few units and
    router logits spread enough that top-k choices are clear."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            fan_in = p.shape[-1]
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name:
                p.copy_(0.35 * torch.randn(p.shape, generator=g))
            elif "lm_head" in name:
                p.copy_(2.5 * torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
            elif name.endswith("gate.weight"):  # the router
                p.copy_(3.0 * torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
            elif "o_proj" in name or "down_proj" in name:
                p.copy_(2.0 * torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
            else:  # Linear (out, in) or stacked experts (expert, out, in)
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))


def routers(model):
    return [layer.mlp.gate for layer in model.model.layers]


@torch.no_grad()
def run_with_routing(model, arch, cfg, ids):
    """One full-sequence forward pass; returns the logits and, per MoE layer, the router's
    (probs, experts, weights) for every position, after checking them against our own top-k."""
    captured = []
    hooks = [r.register_forward_hook(lambda m, i, o: captured.append(o)) for r in routers(model)]
    try:
        logits = model(torch.tensor([ids])).logits[0].float().numpy()
    finally:
        for h in hooks:
            h.remove()
    k = cfg.num_experts_per_tok
    per_layer = []
    for router_logits, scores, indices in captured:
        probs = torch.softmax(router_logits.float(), dim=-1)
        top_p, top_i = torch.topk(probs, k, dim=-1)
        w = top_p / top_p.sum(-1, keepdim=True) if renormalises(arch, cfg) else top_p
        assert torch.equal(top_i, indices), "router's selection differs from softmax top-k"
        assert torch.allclose(w, scores.float(), atol=1e-6), "router's weights differ"
        per_layer.append((probs.numpy(), top_i.numpy(), w.numpy()))
    return logits, per_layer


def reference(model, arch, cfg, prompt):
    """Full-sequence forward passes (no KV cache). The routing of every token, the last
    generated one included, comes from one pass over the whole sequence (causal: a token's
    routing depends only on it and what precedes it)."""
    ids = list(prompt)
    prompt_logits, _ = run_with_routing(model, arch, cfg, ids)
    steps, margins = [], []
    for _ in range(N_GEN):
        row = run_with_routing(model, arch, cfg, ids)[0][-1]
        top2 = np.sort(row)[-2:]
        steps.append(row)
        margins.append(float(top2[1] - top2[0]))
        ids.append(int(np.argmax(row)))
    _, routing = run_with_routing(model, arch, cfg, ids)
    k = cfg.num_experts_per_tok
    # In router-logit units: log p_k - log p_(k+1).
    gaps = [float(np.min(np.diff(np.sort(np.log(p), -1), axis=-1)[:, -k])) for p, _, _ in routing]
    return prompt_logits, ids[len(prompt):], steps, margins, routing, min(gaps)


def build(name, arch, cfg_cls, model_cls, overrides):
    cfg = cfg_cls(**{**COMMON, **overrides})
    cfg._attn_implementation = "eager"
    prompt = [BOS] + PROMPT_BODY
    for seed in range(2000, 2600):
        torch.manual_seed(seed)
        model = model_cls(cfg).float().eval()
        init_weights(model, seed)
        if cfg.tie_word_embeddings:
            model.tie_weights()
        ref = reference(model, arch, cfg, prompt)
        if min(ref[3]) >= MIN_MARGIN and ref[5] >= MIN_GAP and len(set(ref[1])) >= MIN_DISTINCT:
            return cfg, model, prompt, seed, ref
    raise RuntimeError(f"{name}: no seed gave clear greedy and routing choices")


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
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(float(rp["rope_theta"]))
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_expert_count(n_experts(cfg))
    w.add_expert_used_count(cfg.num_experts_per_tok)
    if arch == "qwen3moe":
        w.add_expert_feed_forward_length(cfg.moe_intermediate_size)
    if arch != "llama":
        w.add_expert_weights_norm(bool(cfg.norm_topk_prob))
    tokens, types, merges = tiny_vocab()
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2" if arch.startswith("qwen") else "gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(BOS)
    w.add_eos_token_id(EOS)
    w.add_add_bos_token(arch == "llama")

    def t(gguf_name, a):
        w.add_tensor(gguf_name, np.ascontiguousarray(a, dtype=np.float32))

    t("token_embd.weight", sd["model.embed_tokens.weight"])
    for i in range(n_layer):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        t(b + "attn_norm.weight", sd[p + "input_layernorm.weight"])
        q, k = sd[p + "self_attn.q_proj.weight"], sd[p + "self_attn.k_proj.weight"]
        if arch == "llama":  # mixtral: rotary pairs on adjacent rows, as llama files have them
            q, k = interleave_rope_rows(q, n_head), interleave_rope_rows(k, n_kv)
        t(b + "attn_q.weight", q)
        t(b + "attn_k.weight", k)
        t(b + "attn_v.weight", sd[p + "self_attn.v_proj.weight"])
        if arch in ("qwen3moe", "olmoe"):
            t(b + "attn_q_norm.weight", sd[p + "self_attn.q_norm.weight"])
            t(b + "attn_k_norm.weight", sd[p + "self_attn.k_norm.weight"])
        t(b + "attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        t(b + "ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        # Experts: HF stacks [expert, 2*ff (gate rows, then up rows), hidden] and
        # [expert, hidden, ff]; GGUF stores one 3-D tensor each, ne = {in, out, expert}.
        gate_up, down = sd[p + "mlp.experts.gate_up_proj"], sd[p + "mlp.experts.down_proj"]
        ff = gate_up.shape[1] // 2
        t(b + "ffn_gate_inp.weight", sd[p + "mlp.gate.weight"])
        t(b + "ffn_gate_exps.weight", gate_up[:, :ff, :])
        t(b + "ffn_up_exps.weight", gate_up[:, ff:, :])
        t(b + "ffn_down_exps.weight", down)
    t("output_norm.weight", sd["model.norm.weight"])
    if not cfg.tie_word_embeddings:
        t("output.weight", sd["lm_head.weight"])

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def check_llamacpp(gguf_path, prompt, gen, prompt_logits, steps):
    from llama_cpp import Llama
    llm = Llama(model_path=gguf_path, n_ctx=64, n_batch=64, n_threads=2, logits_all=True,
                type_k=0, type_v=0, verbose=False)
    seq = prompt + gen[:-1]
    llm.eval(seq)
    got = np.array(llm.scores[: len(seq)])
    want = np.concatenate([prompt_logits, np.array(steps[1:])])
    return float(np.max(np.abs(got - want))), [int(x) for x in np.argmax(got[len(prompt) - 1:], 1)]


def write_bench_model(path):
    """A Qwen3-MoE-shaped model big enough that decode is memory-bound like a real one: 8 layers,
    hidden 1024, 16 heads (4 KV) of 64, 32 experts of width 384, top-8, vocab 32000, Q8_0."""
    from gguf import GGMLQuantizationType, quants
    rng = np.random.default_rng(7)
    E, D, F, L, V, H, KV, HD = 32, 1024, 384, 8, 32000, 16, 4, 64

    def q8(a):
        return quants.quantize(a.astype(np.float32), GGMLQuantizationType.Q8_0)

    def rand(*shape):
        return (rng.standard_normal(shape, dtype=np.float32) / math.sqrt(shape[-1]))

    w = GGUFWriter(path, "qwen3moe")
    w.add_name("bench_qwen3moe")
    w.add_context_length(4096)
    w.add_embedding_length(D)
    w.add_block_count(L)
    w.add_feed_forward_length(3 * D)
    w.add_expert_feed_forward_length(F)
    w.add_expert_count(E)
    w.add_expert_used_count(8)
    w.add_expert_weights_norm(True)
    w.add_head_count(H)
    w.add_head_count_kv(KV)
    w.add_key_length(HD)
    w.add_value_length(HD)
    w.add_rope_freq_base(1e6)
    w.add_layer_norm_rms_eps(1e-6)
    qt = GGMLQuantizationType.Q8_0
    w.add_tensor("token_embd.weight", q8(rand(V, D)), raw_dtype=qt)
    ones = lambda n: np.ones(n, dtype=np.float32)  # noqa: E731
    for i in range(L):
        b = f"blk.{i}."
        w.add_tensor(b + "attn_norm.weight", ones(D))
        w.add_tensor(b + "attn_q.weight", q8(rand(H * HD, D)), raw_dtype=qt)
        w.add_tensor(b + "attn_k.weight", q8(rand(KV * HD, D)), raw_dtype=qt)
        w.add_tensor(b + "attn_v.weight", q8(rand(KV * HD, D)), raw_dtype=qt)
        w.add_tensor(b + "attn_q_norm.weight", ones(HD))
        w.add_tensor(b + "attn_k_norm.weight", ones(HD))
        w.add_tensor(b + "attn_output.weight", q8(rand(D, H * HD)), raw_dtype=qt)
        w.add_tensor(b + "ffn_norm.weight", ones(D))
        w.add_tensor(b + "ffn_gate_inp.weight", 3 * rand(E, D))
        w.add_tensor(b + "ffn_gate_exps.weight", q8(rand(E, F, D)), raw_dtype=qt)
        w.add_tensor(b + "ffn_up_exps.weight", q8(rand(E, F, D)), raw_dtype=qt)
        w.add_tensor(b + "ffn_down_exps.weight", q8(rand(E, D, F)), raw_dtype=qt)
    w.add_tensor("output_norm.weight", ones(D))
    w.add_tensor("output.weight", q8(rand(V, D)), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    bench = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--bench-model=")]
    if bench:
        write_bench_model(bench[0])
        return
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    check = "--check-llamacpp" in sys.argv
    out_dir = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "tests",
                                                "fixtures", "models")
    os.makedirs(out_dir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    only = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--only=")]
    for name, (arch, cfg_cls, model_cls, overrides) in FIXTURES.items():
        if only and name not in only:
            continue
        cfg, model, prompt, seed, ref = build(name, arch, cfg_cls, model_cls, overrides)
        prompt_logits, gen, steps, margins, routing, min_gap = ref
        gguf_path = os.path.join(out_dir, name + ".gguf")
        write_gguf(gguf_path, arch, name, model, cfg)
        model.save_pretrained(os.path.join(out_dir, "hf", name))
        gen_cfg = os.path.join(out_dir, "hf", name, "generation_config.json")
        if os.path.exists(gen_cfg):
            os.remove(gen_cfg)  # not model data
        n_tok = len(prompt) + len(gen)
        doc = {
            "model_file": name + ".gguf",
            "hf_dir": "hf/" + name,
            "arch": arch,
            "generator": f"tools/gen_tiny_moe_models.py (transformers {transformers.__version__}, "
                         f"torch {torch.__version__.split('+')[0]}), seed {seed}",
            "config": {k: v for k, v in cfg.to_diff_dict().items()
                       if k not in ("transformers_version", "layer_types")},
            "prompt_ids": prompt,
            "generated_ids": gen,
            "top2_margin": [round(m, 6) for m in margins],
            "routing": {
                "layers": list(range(cfg.num_hidden_layers)),
                "k": cfg.num_experts_per_tok,
                "n_expert": n_experts(cfg),
                "min_gap": round(min_gap, 6),
                "experts": [[[int(e) for e in r[1][t]] for r in routing] for t in range(n_tok)],
                "weights": [[floats(r[2][t]) for r in routing] for t in range(n_tok)],
                "probs": [[floats(r[0][t]) for r in routing] for t in range(n_tok)],
            },
            "prompt_logits": [floats(r) for r in prompt_logits],
            "logits": [floats(r) for r in steps],
        }
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.write("\n")
        msg = (f"{name}: seed {seed}, generated {gen}, min margin {min(margins):.3f}, "
               f"min router gap {min_gap:.4f}")
        if check:
            diff, cpp_argmax = check_llamacpp(gguf_path, prompt, gen, prompt_logits, steps)
            msg += f"; llama.cpp max |dlogit| {diff:.2e}, argmax agrees: {cpp_argmax == gen}"
        print(msg, flush=True)


if __name__ == "__main__":
    main()
