#!/usr/bin/env python3
"""Trains Glassbox's demo reasoning models on arithmetic with worked solutions (arith_data.py)
and writes each as a Hugging Face checkpoint (config.json, model.safetensors, tokenizer.json,
tokenizer_config.json) that `glassbox-cli convert` turns into the shipped GGUF.

    ${GB_PYTHON:-python3} tools/train/train_arith.py moe   OUT_DIR [--steps N] [--seed S]
    ${GB_PYTHON:-python3} tools/train/train_arith.py dense OUT_DIR [--steps N] [--seed S]

The models are transformers' own DeepseekV3ForCausalLM and Qwen3ForCausalLM, so what is trained
is exactly the architecture our engine runs from the checkpoint (and checks against transformers
in the model tests). CPU only, fixed seeds, two threads.

MoE routing is balanced DeepSeek-V3's auxiliary-loss-free way: after every step each MoE layer's
score-correction bias moves by `bias_rate` towards experts that took fewer tokens than the mean
and away from those that took more (arXiv 2412.19437, section 2.1.2). The bias only steers the
choice; the gate weights still come from the unbiased sigmoid scores.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arith_data  # noqa: E402
import arith_tokenizer as at  # noqa: E402

CTX = 512

# MoE: DeepSeek-V3's layout in miniature. MLA with a q LoRA and decoupled rope dims, one leading
# dense layer, 16 routed experts (4 groups, best 2 groups, top-2) and a shared expert, sigmoid
# gating with a score-correction bias.
MOE = dict(hidden_size=128, intermediate_size=320, moe_intermediate_size=64, num_hidden_layers=4,
           num_attention_heads=4, num_key_value_heads=4, q_lora_rank=96, kv_lora_rank=64,
           qk_nope_head_dim=32, qk_rope_head_dim=16, v_head_dim=32, n_routed_experts=16,
           n_shared_experts=1, num_experts_per_tok=2, n_group=4, topk_group=2,
           routed_scaling_factor=1.0, norm_topk_prob=True, first_k_dense_replace=1,
           rms_norm_eps=1e-6, max_position_embeddings=CTX, tie_word_embeddings=False,
           hidden_act="silu", initializer_range=0.02,
           rope_parameters=dict(rope_type="default", rope_theta=10000.0))

# Dense twin: Qwen3 (GQA, q/k norms) with about the MoE model's active parameters per token.
DENSE = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=4,
             num_attention_heads=4, num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-6,
             max_position_embeddings=CTX, tie_word_embeddings=False, hidden_act="silu",
             initializer_range=0.02, rope_parameters=dict(rope_type="default", rope_theta=10000.0))


def build_tokenizer(out_dir, seed):
    path = os.path.join(out_dir, "tokenizer.json")
    if os.path.exists(path):
        from tokenizers import Tokenizer
        return Tokenizer.from_file(path)
    rng = random.Random(seed)
    texts = []
    for _ in range(20000):
        user, reply, thinking = arith_data.sample(rng)
        # The think tags are added tokens, matched before BPE: merges for them would be unused.
        reply = reply.replace(at.THINK_OPEN, "").replace(at.THINK_CLOSE, "")
        texts.append(user + "\n" + reply)
    tok = at.train_tokenizer(texts, vocab_size=384)
    os.makedirs(out_dir, exist_ok=True)
    tok.save(path)
    return tok


class Batches:
    """Token batches of whole examples, bucketed by length so padding stays small. The loss
    covers the reply only (and its end token); the prompt is context."""

    def __init__(self, tok, seed, batch_size):
        self.tok, self.rng, self.bs = tok, random.Random(seed), batch_size
        self.eos = tok.token_to_id(at.EOS)
        self.queue = []
        self.is_digit = torch.tensor([tok.id_to_token(i).isdigit()
                                      for i in range(tok.get_vocab_size())])

    def example(self):
        user, reply, thinking = arith_data.sample(self.rng)
        prompt = self.tok.encode(at.render_prompt(user, thinking)).ids
        reply_ids = self.tok.encode(reply).ids + [self.eos]
        return prompt + reply_ids, len(prompt)

    def refill(self):
        pool = sorted((self.example() for _ in range(self.bs * 16)), key=lambda e: len(e[0]))
        chunks = [pool[i:i + self.bs] for i in range(0, len(pool), self.bs)]
        self.rng.shuffle(chunks)
        self.queue = chunks

    def next(self):
        if not self.queue:
            self.refill()
        chunk = self.queue.pop()
        n = max(len(ids) for ids, _ in chunk)
        x = torch.full((len(chunk), n), self.eos, dtype=torch.long)
        y = torch.full((len(chunk), n), -100, dtype=torch.long)
        for i, (ids, p) in enumerate(chunk):
            x[i, :len(ids)] = torch.tensor(ids)
            y[i, p:len(ids)] = torch.tensor(ids[p:])
        return x, y


def make_model(kind, n_vocab, seed):
    torch.manual_seed(seed)
    if kind == "moe":
        cfg = transformers.DeepseekV3Config(vocab_size=n_vocab, **MOE)
        model = transformers.DeepseekV3ForCausalLM(cfg)
    else:
        cfg = transformers.Qwen3Config(vocab_size=n_vocab, **DENSE)
        model = transformers.Qwen3ForCausalLM(cfg)
    cfg.bos_token_id, cfg.eos_token_id = 0, 1  # the special tokens come first in the vocabulary
    cfg._attn_implementation = "sdpa"
    fast_experts(model)
    return model


def fast_experts(model):
    """The routed experts as one grouped matrix product per projection instead of a Python loop
    over experts: the same arithmetic, a third less time per step on the CPU."""
    if hasattr(model, "set_experts_implementation") and \
            isinstance(model, transformers.DeepseekV3ForCausalLM):
        model.set_experts_implementation("grouped_mm")


def count_params(model, kind):
    total = sum(p.numel() for p in model.parameters())
    if kind != "moe":
        return total, total
    cfg = model.config
    per_expert = 3 * cfg.hidden_size * cfg.moe_intermediate_size
    n_moe = cfg.num_hidden_layers - cfg.first_k_dense_replace
    inactive = n_moe * (cfg.n_routed_experts - cfg.num_experts_per_tok) * per_expert
    return total, total - inactive


class Router:
    """Captures each MoE gate's expert choices during a forward pass, for the bias update and
    for load statistics."""

    def __init__(self, model):
        self.gates = [layer.mlp.gate for layer in model.model.layers
                      if hasattr(layer.mlp, "gate")]
        self.choices = []
        for g in self.gates:
            g.register_forward_hook(lambda m, i, o: self.choices.append(o[2].detach()))

    def update_bias(self, rate, n_experts, mask):
        """Aux-loss-free balancing over the reply tokens of the last batch."""
        loads = []
        for g, idx in zip(self.gates, self.choices):
            idx = idx.view(mask.numel(), -1)[mask.view(-1)]
            load = torch.bincount(idx.reshape(-1), minlength=n_experts).float()
            g.e_score_correction_bias += rate * torch.sign(load.mean() - load)
            loads.append(load / load.sum())
        self.choices = []
        return loads


@torch.no_grad()
def greedy(model, tok, user, thinking=True, max_new=400):
    ids = tok.encode(at.render_prompt(user, thinking)).ids
    eos = tok.token_to_id(at.EOS)
    out = model.generate(torch.tensor([ids]), max_new_tokens=max_new, do_sample=False,
                         eos_token_id=eos, pad_token_id=eos)
    return tok.decode(out[0, len(ids):].tolist(), skip_special_tokens=True)


def last_int(text):
    import re
    found = re.findall(r"\d+", text.split("</think>")[-1])
    return int(found[-1]) if found else None


def quick_eval(model, tok, n, seed):
    model.eval()
    rng = random.Random(seed)
    right = {k: 0 for k in arith_data.KINDS}
    for i in range(n):
        kind, a, b = arith_data.draw_problem(rng, arith_data.KINDS[i % 3])
        if last_int(greedy(model, tok, arith_data.problem_text(kind, a, b))) == \
                arith_data.answer_of(kind, a, b):
            right[kind] += 1
    model.train()
    return {k: v / max(1, n // 3) for k, v in right.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["moe", "dense"])
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--bias-rate", type=float, default=2e-3)
    ap.add_argument("--digit-weight", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--final-eval", type=int, default=60, help="problems for a quick check")
    ap.add_argument("--tokenizer-dir", default=None, help="shared tokenizer (default: OUT/..)")
    ap.add_argument("--resume", default=None, help="continue from this checkpoint (a phase 2)")
    ap.add_argument("--no-compile", action="store_true",
                    help="run the training steps eagerly (torch.compile: about 1.4x faster "
                    "after a minute or two of compiling)")
    args = ap.parse_args()

    torch.set_num_threads(int(os.environ.get("GB_TRAIN_THREADS", "2")))
    random.seed(args.seed)
    tok_dir = args.tokenizer_dir or os.path.dirname(os.path.abspath(args.out))
    tok = build_tokenizer(tok_dir, args.seed)
    if args.resume:
        # A second phase from a saved checkpoint (its weights and expert biases), on fresh data.
        torch.manual_seed(args.seed)
        cls = transformers.DeepseekV3ForCausalLM if args.kind == "moe" else \
            transformers.Qwen3ForCausalLM
        model = cls.from_pretrained(args.resume)
        model.config._attn_implementation = "sdpa"
        fast_experts(model)
        prior = json.load(open(os.path.join(args.resume, "train_log.json")))
    else:
        model = make_model(args.kind, tok.get_vocab_size(), args.seed)
        prior = None
    total, active = count_params(model, args.kind)
    print(f"{args.kind}: {total / 1e6:.2f}M parameters, {active / 1e6:.2f}M active per token, "
          f"vocab {tok.get_vocab_size()}", flush=True)
    router = Router(model) if args.kind == "moe" else None

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-9)
    warm = min(200, args.steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) *
        (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps)))))
    data = Batches(tok, args.seed + 1 + (prior["steps"] if prior else 0), args.batch)
    log = []
    t0 = time.time()
    model.train()
    # The compiled forward shares the model's weights; generation (the quick evaluations) runs
    # the model itself. Sequence lengths vary, so the graph is compiled for dynamic shapes.
    forward = model if args.no_compile else torch.compile(model, dynamic=True)
    for step in range(1, args.steps + 1):
        x, y = data.next()
        if router:
            router.choices = []  # evaluation's generate() calls the hooks too
        logits = forward(input_ids=x).logits
        # Digits carry the facts (table lookups, fetched and copied digits) and are where a
        # reply goes wrong; they weigh more. Per position the optimum is unchanged (the true
        # next-token distribution), so probabilities stay calibrated.
        tgt = y[:, 1:].reshape(-1)
        per = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                                tgt, ignore_index=-100, reduction="none")
        w = torch.where(data.is_digit[tgt.clamp(min=0)], args.digit_weight, 1.0) * (tgt != -100)
        loss = (per * w).sum() / w.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        entry = {"step": step, "loss": round(loss.item(), 5), "time_s": round(time.time() - t0, 1)}
        if router:
            with torch.no_grad():
                loads = router.update_bias(args.bias_rate, model.config.n_routed_experts,
                                           y != -100)
            entry["min_load"] = round(min(l.min().item() for l in loads), 4)
            entry["max_load"] = round(max(l.max().item() for l in loads), 4)
        log.append(entry)
        if step % 50 == 0 or step in (1, 10, 20):
            print(json.dumps(entry), flush=True)
        if args.eval_every and step % args.eval_every == 0 and step < args.steps:
            print("eval", step, quick_eval(model, tok, 30, 99), flush=True)
    train_s = time.time() - t0
    acc = quick_eval(model, tok, args.final_eval, 98) if args.final_eval else {}
    print(f"trained {args.steps} steps in {train_s:.0f} s; quick eval {acc}", flush=True)

    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    tok.save(os.path.join(args.out, "tokenizer.json"))
    with open(os.path.join(args.out, "tokenizer_config.json"), "w") as f:
        json.dump(at.tokenizer_config(CTX), f, indent=1, ensure_ascii=False)
    with open(os.path.join(args.out, "train_log.json"), "w") as f:
        phases = (prior.get("phases") or [{k: prior[k] for k in ("steps", "lr", "train_seconds")}]
                  if prior else []) + [{"steps": args.steps, "lr": args.lr,
                                        "train_seconds": round(train_s)}]
        json.dump({"kind": args.kind, "phases": phases,
                   "steps": sum(p["steps"] for p in phases), "batch": args.batch, "lr": args.lr,
                   "digit_weight": args.digit_weight, "bias_rate": args.bias_rate,
                   "seed": args.seed, "train_seconds": sum(p["train_seconds"] for p in phases),
                   "threads":
                   torch.get_num_threads(), "params": total, "active_params": active,
                   "quick_eval": acc, "log": log}, f)
    for extra in ("generation_config.json",):
        p = os.path.join(args.out, extra)
        if os.path.exists(p):
            os.remove(p)


if __name__ == "__main__":
    main()
