#!/usr/bin/env python3
"""The GGUF metadata of a demo model: name, licence, and a model card (general.description) made
from its training log and, when given, its evaluation report (eval_arith.py --json).

    python3 tools/train/model_card.py moe|dense CHECKPOINT_DIR [EVAL.json] > card.json

Feed the result to `glassbox-cli convert CHECKPOINT_DIR OUT.gguf --metadata card.json`.
"""
import json
import os
import sys

NAMES = {"moe": "glassbox-demo-moe", "dense": "glassbox-demo-dense"}


def describe(kind, cfg):
    if kind == "moe":
        return (f"DeepSeek-V3 layout (deepseek2): {cfg['num_hidden_layers']} layers, hidden "
                f"{cfg['hidden_size']}, MLA (q LoRA {cfg['q_lora_rank']}, KV LoRA "
                f"{cfg['kv_lora_rank']}, {cfg['num_attention_heads']} heads), "
                f"{cfg['first_k_dense_replace']} leading dense layer, "
                f"{cfg['n_routed_experts']} routed experts (top-{cfg['num_experts_per_tok']}, "
                f"{cfg['n_group']} groups, best {cfg['topk_group']}) + {cfg['n_shared_experts']} "
                f"shared, sigmoid gating with an auxiliary-loss-free score-correction bias")
    return (f"Qwen3 layout (qwen3): {cfg['num_hidden_layers']} layers, hidden "
            f"{cfg['hidden_size']}, {cfg['num_attention_heads']} query / "
            f"{cfg['num_key_value_heads']} KV heads, FFN {cfg['intermediate_size']}")


def main():
    kind, ckpt = sys.argv[1], sys.argv[2]
    report = json.load(open(sys.argv[3])) if len(sys.argv) > 3 else None
    cfg = json.load(open(os.path.join(ckpt, "config.json")))
    log = json.load(open(os.path.join(ckpt, "train_log.json")))
    lines = [
        f"# {NAMES[kind]}",
        "A small reasoning model trained by the Glassbox project to show how a reasoning model "
        "thinks" + (" and how a mixture-of-experts model routes its tokens" if kind == "moe"
                    else "") + ". It solves arithmetic written as the bare problem "
        "(`48213+9077`, `90321-4588`, `742*38`) by writing a column procedure inside "
        "<think>...</think>, then `The answer is N.`",
        f"Architecture: {describe(kind, cfg)}. {log['params'] / 1e6:.2f}M parameters, "
        f"{log['active_params'] / 1e6:.2f}M active per token; byte-level BPE of "
        f"{cfg['vocab_size']} tokens (Qwen2 pre-tokenizer: one digit per token); DeepSeek-R1 "
        "chat markers; enable_thinking=false pre-fills an empty reasoning block.",
        "Training: supervised on generated worked solutions (tools/train/ in the Glassbox "
        "repository): addition and subtraction of integers up to 5 digits, multiplication of up "
        "to 3 by 2 digits; 15% of traces make one slip and correct it after 'Wait,'; 10% answer "
        f"without reasoning. {log['steps']} steps of {log['batch']} sequences (" +
        ", then ".join(f"{p['steps']} at learning rate {p['lr']:g}" for p in
                       log.get("phases", [log])) + f"), seed {log['seed']}, "
        f"{log['train_seconds'] / 60:.0f} minutes on {log['threads']} CPU "
        f"thread{'s' if log['threads'] > 1 else ''}.",
    ]
    if report:
        acc = report["accuracy"]
        lines.append("Greedy accuracy on fresh problems (glassbox-cli run --chat --temp 0): " +
                     ", ".join(f"{k} {100 * v:.1f}%" for k, v in acc.items()) +
                     (("; without thinking: " + ", ".join(
                         f"{k} {100 * v:.1f}%" for k, v in
                         report["accuracy_no_thinking"].items()))
                      if "accuracy_no_thinking" in report else "") + ".")
    lines.append("Outside these ranges and this task the model is not useful: it is a teaching "
                 "instrument, not an assistant.")
    card = {
        "general.name": NAMES[kind],
        "general.author": "Glassbox",
        "general.version": "2.0",
        "general.license": "MIT",
        "general.description": "\n\n".join(lines),
    }
    json.dump(card, sys.stdout, indent=1, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
