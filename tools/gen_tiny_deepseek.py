#!/usr/bin/env python3
"""Writes tiny random-weight DeepSeek-V3-layout transformers (DeepseekV3ForCausalLM: MLA attention
with q/kv LoRA ranks and decoupled rope dims, YaRN, a leading dense layer, sigmoid-gated MoE with
a score-correction bias, group-limited top-k, shared experts) as
tests/fixtures/models/<name>.gguf + <name>.json and their Hugging Face form (config.json +
model.safetensors, written by save_pretrained) under tests/fixtures/models/hf/<name>/. Golden
logits and expert choices come from transformers, never from Glassbox itself.

Usage: ${GB_PYTHON:-python3} tools/gen_tiny_deepseek.py [out_dir] [--check-llamacpp]
  needs numpy, gguf, torch, transformers (tools/setup_python_env.sh --full).
  --check-llamacpp runs each GGUF through llama-cpp-python on the same token ids and prints the
  largest logit difference to the HF reference (a check of the GGUF writing, not used in CI).

The two fixtures cover both GGUF layouts of deepseek2 attention:
  tiny_deepseek_v3    q_lora_rank set; current llama.cpp layout: attn_kv_b split into attn_k_b
                      (per head W_kb^T, [kv_lora x nope]) and attn_v_b ([v x kv_lora]), with
                      head_count_kv 1, key_length kv_lora+rope, value_length kv_lora and the
                      *_mla keys holding the per-head sizes; YaRN with mscale == mscale_all_dim.
  tiny_deepseek_lite  q_lora_rank None (DeepSeek-V2-Lite style, attn_q); the older layout with
                      attn_kv_b and key_length/value_length per head; YaRN with mscale !=
                      mscale_all_dim, so the rotary cos/sin carry their own factor
                      (rope.scaling.attn_factor, HF's attention_factor) as well.
Each JSON holds prompt_ids, prompt_logits, generated_ids (32 greedy steps), logits, top2_margin,
config, and routing (layers, k, n_expert, experts/weights [token][moe layer][k] best first,
min_gap). Routing comes from forward hooks on each MoE gate module; the script re-derives the
choice from the router logits (sigmoid + bias, best-two group scores, masked top-k) to order the
experts best first and to measure how far every choice is from a tie.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import transformers
from gguf import (ExpertGatingFuncType, GGUFWriter, LlamaFileType, RopeScalingType)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_tiny_models import BOS, EOS, PROMPT_BODY, VOCAB, floats, tiny_vocab  # noqa: E402

N_GEN = 32
MIN_MARGIN = 0.02   # top-1 minus top-2 logit at every greedy step
MIN_GAP = 2e-3      # choice-score gaps at every routing decision (experts and groups)
MIN_DISTINCT = 10

COMMON = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=48, moe_intermediate_size=16,
              num_attention_heads=4, num_key_value_heads=4, kv_lora_rank=32,
              qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=12, n_routed_experts=8,
              n_shared_experts=1, routed_scaling_factor=2.5, norm_topk_prob=True,
              first_k_dense_replace=1, rms_norm_eps=1e-6, bos_token_id=BOS, eos_token_id=EOS,
              max_position_embeddings=256, tie_word_embeddings=False, hidden_act="silu")

# name -> (GGUF attention layout, config overrides)
FIXTURES = {
    "tiny_deepseek_v3": ("split", dict(
        num_hidden_layers=3, q_lora_rank=32, n_group=4, topk_group=2, num_experts_per_tok=3,
        rope_parameters=dict(rope_type="yarn", rope_theta=10000.0, factor=4.0,
                             original_max_position_embeddings=64, mscale=1.0,
                             mscale_all_dim=1.0, beta_fast=32, beta_slow=1))),
    "tiny_deepseek_lite": ("kv_b", dict(
        num_hidden_layers=2, q_lora_rank=None, n_group=2, topk_group=1, num_experts_per_tok=2,
        rope_parameters=dict(rope_type="yarn", rope_theta=10000.0, factor=4.0,
                             original_max_position_embeddings=64, mscale=0.9,
                             mscale_all_dim=0.7, beta_fast=32, beta_slow=1))),
}


def yarn_mscale(factor, m):
    return 1.0 if factor <= 1 else 0.1 * m * math.log(factor) + 1.0


def init_weights(model, seed):
    """Weights that keep activations O(1) and spread logits and router scores, and a random
    score-correction bias (a buffer, zero unless set)."""
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
            elif name.endswith("mlp.gate.weight"):  # the router
                p.copy_(3.0 * torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
            elif "o_proj" in name or "down_proj" in name:
                p.copy_(2.0 * torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
        for layer in model.model.layers:
            gate = getattr(layer.mlp, "gate", None)
            if gate is not None and hasattr(gate, "e_score_correction_bias"):
                bias = 0.15 * torch.randn(gate.num_experts, generator=g)
                gate.e_score_correction_bias.copy_(bias)


def gates(model, cfg):
    return [model.model.layers[l].mlp.gate
            for l in range(cfg.first_k_dense_replace, cfg.num_hidden_layers)]


def route(cfg, logits, bias):
    """DeepSeek-V3's router, best first: returns (experts, weights, smallest decision gap)."""
    scores = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    choice = scores + bias
    n, k = cfg.n_routed_experts, cfg.num_experts_per_tok
    per = n // cfg.n_group
    group = np.sort(choice.reshape(cfg.n_group, per), axis=1)[:, -2:].sum(1)
    order = np.argsort(-group, kind="stable")
    gaps = [group[order[cfg.topk_group - 1]] - group[order[cfg.topk_group]]] \
        if cfg.topk_group < cfg.n_group else []
    allowed = np.full(n, -np.inf)
    for gi in order[:cfg.topk_group]:
        allowed[gi * per:(gi + 1) * per] = choice[gi * per:(gi + 1) * per]
    best = np.argsort(-allowed, kind="stable")
    gaps.append(allowed[best[k - 1]] - allowed[best[k]])
    gaps += list(allowed[best[:k - 1]] - allowed[best[1:k]])  # distinct order within the top-k
    w = scores[best[:k]]
    if cfg.norm_topk_prob:
        w = w / (w.sum() + 1e-20)
    return best[:k], w * cfg.routed_scaling_factor, min(gaps)


@torch.no_grad()
def run_with_routing(model, cfg, ids):
    captured = []
    hooks = [g.register_forward_hook(lambda m, i, o: captured.append(o)) for g in gates(model, cfg)]
    try:
        logits = model(torch.tensor([ids])).logits[0].float().numpy()
    finally:
        for h in hooks:
            h.remove()
    per_layer = []
    for gate, (router_logits, weights, indices) in zip(gates(model, cfg), captured):
        bias = gate.e_score_correction_bias.double().numpy()
        ex, wt, gap = [], [], []
        for t in range(router_logits.shape[0]):
            e, w, g = route(cfg, router_logits[t].double().numpy(), bias)
            hf = {int(i): float(x) for i, x in zip(indices[t], weights[t])}
            assert set(hf) == set(int(i) for i in e), "router selection differs from ours"
            assert all(abs(hf[int(i)] - x) < 1e-5 for i, x in zip(e, w)), "router weights differ"
            ex.append([int(i) for i in e])
            wt.append([hf[int(i)] for i in e])
            gap.append(g)
        per_layer.append((ex, wt, min(gap)))
    return logits, per_layer


def reference(model, cfg, prompt):
    """Full-sequence passes (no KV cache); the routing of every token, the last generated one
    included, comes from one pass over the whole sequence."""
    ids = list(prompt)
    prompt_logits, _ = run_with_routing(model, cfg, ids)
    steps, margins = [], []
    for _ in range(N_GEN):
        row = run_with_routing(model, cfg, ids)[0][-1]
        top2 = np.sort(row)[-2:]
        steps.append(row)
        margins.append(float(top2[1] - top2[0]))
        ids.append(int(np.argmax(row)))
    _, routing = run_with_routing(model, cfg, ids)
    return prompt_logits, ids[len(prompt):], steps, margins, routing, min(r[2] for r in routing)


def build(name, overrides):
    cfg = transformers.DeepseekV3Config(**{**COMMON, **overrides})
    cfg._attn_implementation = "eager"
    prompt = [BOS] + PROMPT_BODY
    for seed in range(3000, 3600):
        torch.manual_seed(seed)
        model = transformers.DeepseekV3ForCausalLM(cfg).float().eval()
        init_weights(model, seed)
        ref = reference(model, cfg, prompt)
        if min(ref[3]) >= MIN_MARGIN and ref[5] >= MIN_GAP and len(set(ref[1])) >= MIN_DISTINCT:
            return cfg, model, prompt, seed, ref
    raise RuntimeError(f"{name}: no seed gave clear greedy and routing choices")


def write_gguf(path, name, layout, model, cfg):
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    H, nope, rope, vd = (cfg.num_attention_heads, cfg.qk_nope_head_dim, cfg.qk_rope_head_dim,
                         cfg.v_head_dim)
    kvl = cfg.kv_lora_rank
    rp = dict(cfg.rope_parameters)
    w = GGUFWriter(path, "deepseek2")
    w.add_name(name)
    w.add_file_type(LlamaFileType.ALL_F32)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(H)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_vocab_size(VOCAB)
    if cfg.q_lora_rank is not None:
        w.add_q_lora_rank(cfg.q_lora_rank)
    w.add_kv_lora_rank(kvl)
    if layout == "split":  # MLA as MQA over the compressed latent (llama.cpp since 2025)
        w.add_head_count_kv(1)
        w.add_key_length(kvl + rope)
        w.add_value_length(kvl)
        w.add_key_length_mla(nope + rope)
        w.add_value_length_mla(vd)
    else:
        w.add_head_count_kv(H)
        w.add_key_length(nope + rope)
        w.add_value_length(vd)
    w.add_rope_dimension_count(rope)
    w.add_rope_freq_base(float(rp["rope_theta"]))
    if rp.get("rope_type") == "yarn":
        w.add_rope_scaling_type(RopeScalingType.YARN)
        w.add_rope_scaling_factor(float(rp["factor"]))
        w.add_rope_scaling_orig_ctx_len(int(rp["original_max_position_embeddings"]))
        w.add_rope_scaling_yarn_log_mul(0.1 * float(rp["mscale_all_dim"]))
        if rp["mscale"] != rp["mscale_all_dim"]:  # HF's attention_factor on the rotary cos/sin
            w.add_rope_scaling_attn_factors(yarn_mscale(rp["factor"], rp["mscale"]) /
                                            yarn_mscale(rp["factor"], rp["mscale_all_dim"]))
    w.add_leading_dense_block_count(cfg.first_k_dense_replace)
    w.add_expert_feed_forward_length(cfg.moe_intermediate_size)
    w.add_expert_count(cfg.n_routed_experts)
    w.add_expert_used_count(cfg.num_experts_per_tok)
    w.add_expert_shared_count(cfg.n_shared_experts)
    w.add_expert_weights_scale(float(cfg.routed_scaling_factor))
    w.add_expert_weights_norm(bool(cfg.norm_topk_prob))
    w.add_expert_gating_func(ExpertGatingFuncType.SIGMOID)
    w.add_expert_group_count(cfg.n_group)
    w.add_expert_group_used_count(cfg.topk_group)
    tokens, types, merges = tiny_vocab()
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("deepseek-v3")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(BOS)
    w.add_eos_token_id(EOS)
    w.add_add_bos_token(True)

    def t(gguf_name, a):
        w.add_tensor(gguf_name, np.ascontiguousarray(a, dtype=np.float32))

    t("token_embd.weight", sd["model.embed_tokens.weight"])
    for i in range(cfg.num_hidden_layers):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        a = p + "self_attn."
        t(b + "attn_norm.weight", sd[p + "input_layernorm.weight"])
        if cfg.q_lora_rank is not None:
            t(b + "attn_q_a.weight", sd[a + "q_a_proj.weight"])
            t(b + "attn_q_a_norm.weight", sd[a + "q_a_layernorm.weight"])
            t(b + "attn_q_b.weight", sd[a + "q_b_proj.weight"])
        else:
            t(b + "attn_q.weight", sd[a + "q_proj.weight"])
        t(b + "attn_kv_a_mqa.weight", sd[a + "kv_a_proj_with_mqa.weight"])
        t(b + "attn_kv_a_norm.weight", sd[a + "kv_a_layernorm.weight"])
        kv_b = sd[a + "kv_b_proj.weight"]
        if layout == "split":
            # Per head: rows [nope of K | v_head of V], each kv_lora wide. K's part is stored
            # transposed (W_kb^T, [kv_lora x nope]) so that it multiplies q_nope directly.
            heads = kv_b.reshape(H, nope + vd, kvl)
            t(b + "attn_k_b.weight", heads[:, :nope, :].transpose(0, 2, 1))
            t(b + "attn_v_b.weight", heads[:, nope:, :])
        else:
            t(b + "attn_kv_b.weight", kv_b)
        t(b + "attn_output.weight", sd[a + "o_proj.weight"])
        t(b + "ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        m = p + "mlp."
        if i < cfg.first_k_dense_replace:
            t(b + "ffn_gate.weight", sd[m + "gate_proj.weight"])
            t(b + "ffn_up.weight", sd[m + "up_proj.weight"])
            t(b + "ffn_down.weight", sd[m + "down_proj.weight"])
            continue
        gate_up, down = sd[m + "experts.gate_up_proj"], sd[m + "experts.down_proj"]
        ff = gate_up.shape[1] // 2
        t(b + "ffn_gate_inp.weight", sd[m + "gate.weight"])
        t(b + "exp_probs_b.bias", sd[m + "gate.e_score_correction_bias"])
        t(b + "ffn_gate_exps.weight", gate_up[:, :ff, :])
        t(b + "ffn_up_exps.weight", gate_up[:, ff:, :])
        t(b + "ffn_down_exps.weight", down)
        t(b + "ffn_gate_shexp.weight", sd[m + "shared_experts.gate_proj.weight"])
        t(b + "ffn_up_shexp.weight", sd[m + "shared_experts.up_proj.weight"])
        t(b + "ffn_down_shexp.weight", sd[m + "shared_experts.down_proj.weight"])
    t("output_norm.weight", sd["model.norm.weight"])
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


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    check = "--check-llamacpp" in sys.argv
    out_dir = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "tests",
                                                "fixtures", "models")
    os.makedirs(out_dir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    for name, (layout, overrides) in FIXTURES.items():
        cfg, model, prompt, seed, ref = build(name, overrides)
        prompt_logits, gen, steps, margins, routing, min_gap = ref
        gguf_path = os.path.join(out_dir, name + ".gguf")
        write_gguf(gguf_path, name, layout, model, cfg)
        hf_dir = os.path.join(out_dir, "hf", name)
        model.save_pretrained(hf_dir)
        if os.path.exists(os.path.join(hf_dir, "generation_config.json")):
            os.remove(os.path.join(hf_dir, "generation_config.json"))  # not model data
        n_tok = len(prompt) + len(gen)
        doc = {
            "model_file": name + ".gguf",
            "hf_dir": "hf/" + name,
            "arch": "deepseek2",
            "kv_layout": layout,
            "generator": f"tools/gen_tiny_deepseek.py (transformers {transformers.__version__}, "
                         f"torch {torch.__version__.split('+')[0]}), seed {seed}",
            "config": {k: v for k, v in cfg.to_diff_dict().items()
                       if k not in ("transformers_version", "layer_types")},
            "prompt_ids": prompt,
            "generated_ids": gen,
            "top2_margin": [round(m, 6) for m in margins],
            "routing": {
                "layers": list(range(cfg.first_k_dense_replace, cfg.num_hidden_layers)),
                "k": cfg.num_experts_per_tok,
                "n_expert": cfg.n_routed_experts,
                "min_gap": round(min_gap, 6),
                "experts": [[r[0][t] for r in routing] for t in range(n_tok)],
                "weights": [[floats(r[1][t]) for r in routing] for t in range(n_tok)],
            },
            "prompt_logits": [floats(r) for r in prompt_logits],
            "logits": [floats(r) for r in steps],
        }
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.write("\n")
        msg = (f"{name}: seed {seed}, generated {gen}, min margin {min(margins):.3f}, "
               f"min routing gap {min_gap:.4f}")
        if check:
            try:
                diff, cpp_argmax = check_llamacpp(gguf_path, prompt, gen, prompt_logits, steps)
                msg += f"; llama.cpp max |dlogit| {diff:.2e}, argmax agrees: {cpp_argmax == gen}"
            except Exception as e:  # noqa: BLE001 - a report, not a gate
                msg += f"; llama.cpp could not run it: {e}"
        print(msg, flush=True)


if __name__ == "__main__":
    main()
