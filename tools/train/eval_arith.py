#!/usr/bin/env python3
"""Scores the demo models the way a user runs them: `glassbox-cli run --chat --temp 0` on fresh
problems, and reports accuracy per kind and digit count, with and without thinking, the
routing liveness and vocabulary specialisation of the MoE model, and (--llamacpp) whether
llama.cpp gives the same greedy tokens.

    ${GB_PYTHON:-python3} tools/train/eval_arith.py MODEL.gguf [--n 1000] [--no-thinking-n 150]
        [--cli build/app/glassbox-cli] [--jobs 2] [--llamacpp 20] [--json OUT.json]

The test problems are drawn with seed 20261202, which no training run uses (the trainer draws
its data from its --seed + 1, 1235 by default, and its tokenizer text from --seed).

Specialisation follows OLMoE (arXiv 2409.02060, section 5): for a token class c and expert e,
the share of the class's routings (token, top-k slot) that go to e; an expert specialises in a
class when that share is far above the 1/n_expert of uniform routing.
"""
import argparse
import collections
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arith_data  # noqa: E402

TEST_SEED = 20261202


def test_problems(n, seed=TEST_SEED):
    """n problems per kind, digit counts uniform in range."""
    import random
    rng = random.Random(seed)
    out = []
    for kind in arith_data.KINDS:
        out += [arith_data.draw_problem(rng, kind) for _ in range(n)]
    return out


def final_int(answer_text):
    found = re.findall(r"\d+", answer_text)
    return int(found[-1]) if found else None


def run_cli(cli, model, problem, thinking, temp=0.0, seed=0):
    with tempfile.TemporaryDirectory() as tmp:
        trace_path = os.path.join(tmp, "t.json")
        cmd = [cli, "run", "-m", model, "--chat", "-p", problem, "--temp", str(temp), "-n", "700",
               "-t", "1", "--quiet", "--trace", trace_path, "--seed", str(seed), "--top-k", "0",
               "--top-p", "1", "--min-p", "0"]
        if not thinking:
            cmd.append("--no-thinking")
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {r.stderr}")
        with open(trace_path) as f:
            return json.load(f)


def token_class(text, phase, restating=False):
    """Token classes for the specialisation table. `restating`: the token is in a line's head
    ("tens of 4821 and 907:"), where the digits are copies of the previous line's numbers, not
    results."""
    t = text.strip()
    if text in ("<think>", "</think>"):
        return "<think> markers"
    if phase == "answer":
        return "answer digits" if t.isdigit() else "answer words"
    if t.isdigit():
        return "restated digits" if restating else "digits"
    if t in ("+", "-", "*"):
        return "operators + - *"
    if t == "=":
        return "="
    if t == "Wait":
        return "Wait"
    if t in ("carry", "borrow"):
        return "carry/borrow"
    if t in ("units", "tens", "hundreds", "thousands", "-thousands", "ten", "hundred"):
        return "place names"
    if t == "→":
        return "→"
    if not any(ch.isalnum() for ch in t):
        return "punctuation, newlines"
    return "other words"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--cli", default="build/app/glassbox-cli")
    ap.add_argument("--n", type=int, default=1000, help="problems per kind")
    ap.add_argument("--no-thinking-n", type=int, default=150)
    ap.add_argument("--sampled-n", type=int, default=100,
                    help="problems per kind sampled at temperature 1 (self-corrections)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--llamacpp", type=int, default=0, help="problems to compare with llama.cpp")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    report = {"model": os.path.basename(args.model)}
    problems = test_problems(args.n)
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        traces = list(pool.map(lambda p: run_cli(args.cli, args.model,
                                                 arith_data.problem_text(*p), True), problems))
    by = collections.defaultdict(lambda: [0, 0])
    waits, think_tokens, bad = 0, 0, []
    for (kind, a, b), tr in zip(problems, traces):
        ok = final_int(tr["answer_text"]) == arith_data.answer_of(kind, a, b)
        key = (kind, len(str(a)), len(str(b)))
        by[key][0] += ok
        by[key][1] += 1
        by[kind][0] += ok
        by[kind][1] += 1
        waits += "Wait" in tr["reasoning_text"]
        think_tokens += sum(t["phase"] == "think" for t in tr["tokens"])
        if not ok and len(bad) < 10:
            bad.append((arith_data.problem_text(kind, a, b), tr["answer_text"]))
    report["accuracy"] = {k: round(v[0] / v[1], 4) for k, v in by.items() if isinstance(k, str)}
    report["accuracy_by_digits"] = {f"{k[0]} {k[1]}x{k[2]}": [v[0], v[1]]
                                    for k, v in sorted((k, v) for k, v in by.items() if not isinstance(k, str))}
    report["mean_reasoning_tokens"] = round(think_tokens / len(traces), 1)
    report["replies_with_wait"] = waits
    report["wrong_examples"] = bad
    print(json.dumps({k: report[k] for k in ("accuracy", "mean_reasoning_tokens",
                                             "replies_with_wait")}), flush=True)

    # Without thinking: the template pre-fills an empty reasoning block.
    if args.no_thinking_n:
        nt = test_problems(args.no_thinking_n, TEST_SEED + 1)
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            ntr = list(pool.map(lambda p: run_cli(args.cli, args.model,
                                                  arith_data.problem_text(*p), False), nt))
        acc = collections.defaultdict(lambda: [0, 0])
        for (kind, a, b), tr in zip(nt, ntr):
            acc[kind][0] += final_int(tr["answer_text"]) == arith_data.answer_of(kind, a, b)
            acc[kind][1] += 1
        report["accuracy_no_thinking"] = {k: round(v[0] / v[1], 4) for k, v in acc.items()}
        print(json.dumps({"accuracy_no_thinking": report["accuracy_no_thinking"]}), flush=True)

    # Sampled at temperature 1 (no truncation): how often the model slips and says "Wait", and
    # whether it still gets the answer.
    sampled = []
    if args.sampled_n:
        sp = test_problems(args.sampled_n, TEST_SEED + 2)
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            st = list(pool.map(lambda ip: run_cli(args.cli, args.model,
                                                   arith_data.problem_text(*ip[1]), True, 1.0,
                                                   ip[0] + 1), enumerate(sp)))
        sampled = st
        ok = sum(final_int(t["answer_text"]) == arith_data.answer_of(*p) for p, t in zip(sp, st))
        with_wait = [(p, t) for p, t in zip(sp, st) if "Wait" in t["reasoning_text"]]
        ok_wait = sum(final_int(t["answer_text"]) == arith_data.answer_of(*p) for p, t in with_wait)
        report["sampled_t1"] = {"problems": len(sp), "accuracy": round(ok / len(sp), 4),
                                "replies_with_wait": len(with_wait),
                                "correct_after_wait": ok_wait,
                                "example": with_wait[0][1]["reasoning_text"] if with_wait else ""}
        print(json.dumps({k: v for k, v in report["sampled_t1"].items() if k != "example"}),
              flush=True)

    # Routing: load per expert and layer over every token (prompt and reply), and OLMoE's
    # vocabulary specialisation over the generated tokens.
    # (greedy replies, and the sampled ones, which hold the "Wait" tokens)
    routed, classes = [], []
    for tr in traces + sampled:
        restating = False
        for t in tr["tokens"]:
            word = t["text"].strip()
            if word == "of":
                restating = True
            elif ":" in t["text"] or "\n" in t["text"]:
                restating = False
            if t.get("routing"):
                routed.append(t)
                classes.append(token_class(t["text"], t["phase"], restating)
                               if t["phase"] != "prompt" else "prompt")
    if routed:
        layers = routed[0]["routing"]["layers"]
        k = len(routed[0]["routing"]["experts"][0])
        n_exp = 1 + max(e for t in routed for row in t["routing"]["experts"] for e in row)
        load = [[0] * n_exp for _ in layers]
        hits = collections.defaultdict(lambda: [[0] * n_exp for _ in layers])
        count = collections.Counter()
        for t, c in zip(routed, classes):
            count[c] += 1
            for li, row in enumerate(t["routing"]["experts"]):
                for e in row:
                    load[li][e] += 1
                    hits[c][li][e] += 1
        share = [[x / sum(row) for x in row] for row in load]
        report["routing_layers"] = layers
        report["routed_tokens"] = len(routed)
        report["min_expert_share"] = round(min(min(r) for r in share), 4)
        report["expert_share"] = [[round(x, 4) for x in r] for r in share]
        # OLMoE's vocabulary specialisation: of a class's tokens, the fraction routed to an
        # expert (one of its top-k); uniform routing gives k / n_expert.
        spec = {"uniform": round(k / n_exp, 4)}
        for c in sorted(hits):
            rows = []
            for li, row in enumerate(hits[c]):
                best = max(range(n_exp), key=lambda e: row[e])
                rows.append({"layer": layers[li], "expert": best,
                             "specialisation": round(row[best] / count[c], 3)})
            spec[c] = {"tokens": count[c], "layers": rows}
        report["specialisation"] = spec
        print(json.dumps({"min_expert_share": report["min_expert_share"],
                          "routed_tokens": len(routed)}), flush=True)
        print(f"| token class | tokens | " + " | ".join(f"layer {l}" for l in layers) + " |")
        print("|---|---|" + "---|" * len(layers))
        for c in sorted(hits, key=lambda c: -count[c]):
            print(f"| {c} | {count[c]} | " + " | ".join(
                f"e{r['expert']} {r['specialisation']:.2f}" for r in spec[c]["layers"]) + " |")

    if args.llamacpp:
        report["llamacpp"] = compare_llamacpp(args, problems[::max(1, len(problems) //
                                                                     args.llamacpp)][:args.llamacpp],
                                              traces[::max(1, len(problems) //
                                                           args.llamacpp)][:args.llamacpp])
        print(json.dumps({"llamacpp": report["llamacpp"]["summary"]}), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


def compare_llamacpp(args, problems, traces):
    """Greedy decoding in llama.cpp from the same prompt token ids; the generated ids must equal
    glassbox-cli's."""
    import llama_cpp
    llm = llama_cpp.Llama(model_path=args.model, n_ctx=1024, n_threads=2, verbose=False,
                          logits_all=False)
    same, rows = 0, []
    for p, tr in zip(problems, traces):
        prompt = [t["id"] for t in tr["tokens"] if t["phase"] == "prompt"]
        ours = [t["id"] for t in tr["tokens"] if t["phase"] != "prompt"]
        llm.reset()
        theirs = []
        for tok in llm.generate(prompt, temp=0.0, top_k=1, reset=True):
            theirs.append(tok)
            if tok == llm.token_eos() or len(theirs) >= len(ours) + 2:
                break
        ok = theirs[:len(ours)] == ours
        same += ok
        rows.append({"problem": arith_data.problem_text(*p), "same": ok, "n": len(ours)})
    return {"summary": f"{same}/{len(problems)} identical greedy replies", "rows": rows}


if __name__ == "__main__":
    main()
