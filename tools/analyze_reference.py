#!/usr/bin/env python3
"""Independent numpy reference of gb::analyze_trace (engine/trace/trace_analysis.h).

Reads a Glassbox trace in its JSON form (engine/trace/TRACE_FORMAT.md) and writes the
analysis JSON of engine/trace/ANALYSIS_FORMAT.md: the reasoning map (entropy, fork tokens,
steps, DeepConf confidence, loop alarm) and the per-layer expert analytics of MoE models.
It is written from that spec alone, not from the C++, so that the golden files it makes
(tests/fixtures/analysis/*.analysis.json, see tools/gen_analysis_fixtures.sh) check the C++.

Usage: ${GB_PYTHON:-python3} tools/analyze_reference.py TRACE.json [-o OUT.json]
Needs numpy only.

Reading notes:
- Token texts are bytes: from `text_hex` when present, else the UTF-8 of `text`. Steps are
  split and texts joined on bytes; texts are written decoded with errors='replace' (one U+FFFD
  per maximal invalid subsequence, as the trace writer does).
- `logprob`, `entropy` and the alternatives' `logprob` are float fields of the trace (32-bit:
  the JSON text round-trips bit for bit as a float32, and gb::Trace holds floats), so they are
  read as float32 and widened to float64; every computation is then in float64. `t_ms` is a
  double field and read as such. `null` is "not scored".
"""
import argparse
import json
import math
import sys
from collections import Counter

import numpy as np

WS = b" \t\r\n"
MARKERS = [b"wait", b"but", b"however", b"alternatively", b"actually", b"hmm", b"hold on",
           b"on second thought", b"let me check", b"let me verify", b"let me double-check",
           b"let me recheck", b"let me re-check", b"let me reconsider", b"double-check"]
FORK_PERCENTILE = 80
CONF_WINDOW = 64
CONF_TOP = 5
CONF_TAIL = 2048
LOOP_N = 8
LOOP_REPEATS = 3
TOP_TEXTS = 5
TOP_PATHS = 10
TOP_TRANSITIONS = 5


# ---------------------------------------------------------------------------------------
# Reading the trace

def f32(x):
    """A float field of the trace: null stays None; the value is the float32 the C++ holds."""
    if x is None:
        return None
    return float(np.float32(x))


def token_bytes(rec):
    if "text_hex" in rec:
        return bytes.fromhex(rec["text_hex"])
    return rec["text"].encode("utf-8")


def text_of(b):
    return b.decode("utf-8", errors="replace")


def load_tokens(trace):
    """Per token: the fields the analysis uses, with bytes and float32-widened numbers."""
    out = []
    for i, rec in enumerate(trace["tokens"]):
        routing = None
        r = rec.get("routing")
        if r is not None and len(r["layers"]) > 0:
            routing = {int(l): [int(e) for e in row] for l, row in zip(r["layers"], r["experts"])}
        out.append({
            "index": i,
            "id": int(rec["id"]),
            "bytes": token_bytes(rec),
            "phase": rec["phase"],
            "logprob": f32(rec["logprob"]),
            "entropy": f32(rec["entropy"]),
            "t_ms": float(rec["t_ms"]),
            "top": [f32(a["logprob"]) for a in rec["top"]],
            "routing": routing,
        })
    return out


def mean_or_none(values):
    return float(np.mean(np.asarray(values, dtype=np.float64))) if len(values) else None


# ---------------------------------------------------------------------------------------
# Reasoning: entropy and forks

def fork_threshold(entropies):
    """80th percentile, numpy's default (linear) method; None when there is no entropy."""
    if not entropies:
        return None
    return float(np.percentile(np.asarray(entropies, dtype=np.float64), FORK_PERCENTILE))


def forks(reasoning, threshold):
    if threshold is None:
        return []
    return [{"token": t["index"], "text": text_of(t["bytes"]), "entropy": t["entropy"],
             "logprob": t["logprob"]}
            for t in reasoning if t["entropy"] is not None and t["entropy"] >= threshold]


# ---------------------------------------------------------------------------------------
# Reasoning: steps

def blank_line_starts(s):
    """Offsets just after a maximal whitespace run holding 2+ LF, when S goes on after it."""
    starts = []
    i, n = 0, len(s)
    while i < n:
        if s[i] not in WS:
            i += 1
            continue
        j = i
        while j < n and s[j] in WS:
            j += 1
        if s.count(b"\n", i, j) >= 2 and j < n:
            starts.append(j)
        i = j
    return starts


def is_sentence_start(s, p):
    if s[p] in WS:
        return False
    q = p
    while q > 0 and s[q - 1] in WS:
        q -= 1
    if q == 0:
        return True  # the first non-whitespace byte of S (any run before it is whitespace only)
    run = s[q:p]
    if not run:
        return False
    if b"\n" in run:
        return True
    return s[q - 1:q] in (b".", b"!", b"?")


def marker_at(s, p):
    """The marker S begins with at p (ASCII case-insensitive, not followed by a letter or
    digit), or None. No marker is a prefix of another, so at most one matches."""
    for m in MARKERS:
        end = p + len(m)
        if s[p:end].lower() != m:
            continue
        if s[end:end + 1].isalnum():  # bytes.isalnum is ASCII-only; b"" (end of S) is False
            continue
        return m
    return None


def step_starts(s):
    """{offset: (kind, marker)} of every step start in S; a marker wins over a blank line."""
    starts = {p: ("blank line", b"") for p in blank_line_starts(s)}
    for p in range(len(s)):
        if is_sentence_start(s, p):
            m = marker_at(s, p)
            if m is not None:
                starts[p] = ("marker", m)
    return starts


def steps(tokens, reasoning):
    if not reasoning:
        return []
    s = b"".join(t["bytes"] for t in reasoning)
    starts = step_starts(s)
    offsets = sorted(starts)
    # Each reasoning token's byte range in S, and the step starts in it (ascending).
    groups = []  # list of (start kind, marker, [tokens])
    pos = 0
    for r, t in enumerate(reasoning):
        b, e = pos, pos + len(t["bytes"])
        pos = e
        inside = [p for p in offsets if b <= p < e]
        if r == 0:
            kind, marker = starts[inside[0]] if inside else ("begin", b"")
            groups.append((kind, marker, [t]))
        elif inside:
            kind, marker = starts[inside[0]]
            groups.append((kind, marker, [t]))
        else:
            groups[-1][2].append(t)
    out = []
    for kind, marker, toks in groups:
        first, last = toks[0]["index"], toks[-1]["index"]
        before = tokens[first - 1]["t_ms"] if first > 0 else 0.0
        out.append({
            "first": first,
            "last": last,
            "count": len(toks),
            "start": kind,
            "marker": marker.decode("ascii"),
            "t_ms": tokens[last]["t_ms"] - before,
            "entropy_mean": mean_or_none([t["entropy"] for t in toks if t["entropy"] is not None]),
            "text": text_of(b"".join(t["bytes"] for t in toks)),
        })
    return out


# ---------------------------------------------------------------------------------------
# Reasoning: DeepConf confidence

def confidence(generated):
    idx, conf = [], []
    for t in generated:
        finite = [lp for lp in t["top"] if lp is not None and math.isfinite(lp)]
        if not finite:
            continue
        idx.append(t["index"])
        conf.append(-float(np.mean(np.asarray(finite[:CONF_TOP], dtype=np.float64))))
    out = {"window": CONF_WINDOW, "tokens": idx, "token_confidence": conf}
    n = len(conf)
    if n == 0:
        out.update({"mean": None, "group": [], "lowest": None, "bottom_10pct": None,
                    "tail": None})
        return out
    c = np.asarray(conf, dtype=np.float64)
    w = min(CONF_WINDOW, n)  # one window over all of C when it is shorter than W
    # Each window's mean computed on its own (no running sum), the plain definition.
    group = [float(np.mean(c[j:j + w])) for j in range(n - w + 1)]
    j = int(np.argmin(np.asarray(group)))  # the first lowest
    n_low = max(1, len(group) // 10)
    out.update({
        "mean": float(np.mean(c)),
        "group": group,
        "lowest": {"start": idx[j], "end": idx[j + w - 1], "value": group[j]},
        "bottom_10pct": float(np.mean(np.sort(np.asarray(group))[:n_low])),
        "tail": float(np.mean(c[-min(CONF_TAIL, n):])),
    })
    return out


# ---------------------------------------------------------------------------------------
# Reasoning: loop alarm

def loop(generated):
    ids = [t["id"] for t in generated]
    seen = {}
    for end in range(LOOP_N - 1, len(ids)):
        start = end - LOOP_N + 1
        gram = tuple(ids[start:end + 1])
        seen.setdefault(gram, []).append(start)
        if len(seen[gram]) == LOOP_REPEATS:
            occ = seen[gram]
            count = sum(1 for a in range(len(ids) - LOOP_N + 1)
                        if tuple(ids[a:a + LOOP_N]) == gram)
            # The text is that of the first occurrence's tokens.
            text = b"".join(t["bytes"] for t in generated[occ[0]:occ[0] + LOOP_N])
            return {"found": True, "n": LOOP_N, "repeats": LOOP_REPEATS,
                    "fired_at": generated[end]["index"],
                    "occurrences": [generated[a]["index"] for a in occ],
                    "count": count, "ids": list(gram), "text": text_of(text)}
    return {"found": False, "n": LOOP_N, "repeats": LOOP_REPEATS, "fired_at": None,
            "occurrences": [], "count": 0, "ids": [], "text": ""}


def reasoning_map(tokens, generated):
    reasoning = [t for t in generated if t["phase"] == "think"]
    n_r = len(reasoning)
    n_a = sum(1 for t in generated if t["phase"] == "answer")
    ent = [t["entropy"] for t in reasoning if t["entropy"] is not None]
    thr = fork_threshold(ent)
    return {
        "n_reasoning": n_r,
        "n_answer": n_a,
        "reasoning_share": n_r / (n_r + n_a) if n_r + n_a else None,
        "entropy_mean": mean_or_none(ent),
        "fork_threshold": thr,
        "forks": forks(reasoning, thr),
        "steps": steps(tokens, reasoning),
        "confidence": confidence(generated),
        "loop": loop(generated),
    }


# ---------------------------------------------------------------------------------------
# MoE expert analytics

def relative_load(counts, n, k, e):
    if n == 0:
        return None
    share = n * k / e  # the tokens' expert slots spread evenly
    return [float(c) / share for c in counts]


def gini(counts, e):
    total = sum(counts)
    if total == 0:
        return 0.0
    mad = sum(abs(a - b) for a in counts for b in counts) / (e * e)
    return mad / (2 * (total / e))


def top_pairs(counter, limit):
    """The most frequent keys, by count descending then key ascending."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def layer_stats(layer, routed, e, k):
    rows = [(t, t["routing"][layer]) for t in routed if layer in t["routing"]]
    n = len(rows)
    counts = [0] * e
    counts_phase = {"think": [0] * e, "answer": [0] * e}
    n_phase = {"think": 0, "answer": 0}
    both = np.zeros((e, e), dtype=np.int64)  # tokens routed to both i and j
    for t, row in rows:
        n_phase[t["phase"]] += 1
        for x in row:
            counts[x] += 1
            counts_phase[t["phase"]][x] += 1
        chosen = sorted(set(row))
        for i in chosen:
            for j in chosen:
                both[i, j] += 1
    rl = relative_load(counts, n, k, e)
    # Per expert, the texts (bytes) it took; per text, how many of the N tokens have it.
    text_total = Counter(t["bytes"] for t, _ in rows)
    took = [Counter() for _ in range(e)]
    for t, row in rows:
        for x in set(row):
            took[x][t["bytes"]] += 1
    specialisation = []
    for x in range(e):
        if counts[x] == 0:
            continue
        top = [{"text": text_of(b), "count": c, "share": c / text_total[b]}
               for b, c in top_pairs(took[x], TOP_TEXTS)]
        specialisation.append({"expert": x, "top": top})
    rl_think = relative_load(counts_phase["think"], n_phase["think"], k, e)
    rl_answer = relative_load(counts_phase["answer"], n_phase["answer"], k, e)
    return {
        "layer": layer,
        "tokens": n,
        "tokens_think": n_phase["think"],
        "tokens_answer": n_phase["answer"],
        "counts": counts,
        "relative_load": rl if rl is not None else [None] * e,
        "max_violation": max(rl) - 1 if rl is not None else None,
        "gini": gini(counts, e),
        "coactivation": [None if counts[i] == 0 else
                         [float(both[i, j]) / counts[i] for j in range(e)] for i in range(e)],
        "specialisation": specialisation,
        "relative_load_think": rl_think,
        "relative_load_answer": rl_answer,
        "think_minus_answer": (None if rl_think is None or rl_answer is None else
                               [a - b for a, b in zip(rl_think, rl_answer)]),
    }


def moe(trace, generated):
    routed = [t for t in generated if t["routing"] is not None]
    if not routed:
        return None
    highest = max(x for t in routed for row in t["routing"].values() for x in row)
    e = max(int(trace.get("n_expert", 0)), highest + 1)
    k = len(next(iter(routed[0]["routing"].values())))
    layers = sorted({l for t in routed for l in t["routing"]})
    paths = Counter(tuple(t["routing"][l][0] for l in layers)
                    for t in routed if all(l in t["routing"] for l in layers))
    n_paths = sum(paths.values())
    transitions = []
    for a, b in zip(layers, layers[1:]):
        moves = Counter((t["routing"][a][0], t["routing"][b][0])
                        for t in routed if a in t["routing"] and b in t["routing"])
        n_both = sum(moves.values())
        transitions.append({"from": a, "to": b, "top": [
            {"from_expert": x, "to_expert": y, "count": c, "share": c / n_both}
            for (x, y), c in top_pairs(moves, TOP_TRANSITIONS)]})
    return {
        "n_expert": e,
        "k": k,
        "layers": [layer_stats(l, routed, e, k) for l in layers],
        "paths": [{"experts": list(p), "count": c, "share": c / n_paths}
                  for p, c in top_pairs(paths, TOP_PATHS)],
        "transitions": transitions,
    }


# ---------------------------------------------------------------------------------------

def analyze(trace):
    if trace.get("format") != "glassbox-trace":
        raise ValueError("not a Glassbox trace")
    tokens = load_tokens(trace)
    generated = [t for t in tokens if t["phase"] in ("think", "answer")]
    return {
        "format": "glassbox-analysis",
        "version": 1,
        "model": trace["model"],
        "n_prompt": sum(1 for t in tokens if t["phase"] == "prompt"),
        "n_generated": len(generated),
        "reasoning": reasoning_map(tokens, generated),
        "moe": moe(trace, generated),
    }


def scalar(v):
    s = json.dumps(v, ensure_ascii=False, allow_nan=False)
    # Escape what the trace writer escapes beyond JSON's minimum (JavaScript embedding).
    return s.replace("\x7f", "\\u007f").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def dump(v, indent=0):
    """JSON with one field a line, but objects and arrays of plain values on one line: small
    diffs, and the file still greps."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(v, dict):
        if all(not isinstance(x, (dict, list)) for x in v.values()):
            return "{" + ", ".join(scalar(k) + ": " + scalar(x) for k, x in v.items()) + "}"
        items = [inner + scalar(k) + ": " + dump(x, indent + 1) for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(v, list):
        if all(not isinstance(x, (dict, list)) for x in v):
            return "[" + ",".join(scalar(x) for x in v) + "]"
        return "[\n" + ",\n".join(inner + dump(x, indent + 1) for x in v) + "\n" + pad + "]"
    return scalar(v)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trace", help="a glassbox trace in JSON form")
    ap.add_argument("-o", "--output", help="where to write the analysis (default stdout)")
    args = ap.parse_args(argv)
    with open(args.trace, "rb") as f:
        trace = json.loads(f.read().decode("utf-8"))
    text = dump(analyze(trace)) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    else:
        sys.stdout.buffer.write(text.encode("utf-8"))


if __name__ == "__main__":
    main()
