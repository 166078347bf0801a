#!/usr/bin/env python3
"""Synthetic Glassbox traces (TRACE_FORMAT.md, JSON) that hit every edge of the trace analysis
definitions (engine/trace/ANALYSIS_FORMAT.md), for tests/fixtures/analysis/. Deterministic: no
randomness. tools/gen_analysis_fixtures.sh runs it, then tools/analyze_reference.py on each.

Usage: ${GB_PYTHON:-python3} tools/gen_analysis_synthetic.py OUT_DIR   (stdlib only)

What each trace exercises:

synthetic_moe.json  (MoE, n_expert 8, top-2, MoE layers [1, 2, 4]; 355 generated tokens)
  steps     "<think>" first (start "begin"); "Butter" after a blank line (blank-line start,
            "but" followed by a letter is no marker); "I wait here" (marker not at a sentence
            start); "Hmmm" (marker followed by a letter); " WAIT," after ". " (case variant);
            "Let"+" Me"+" Check" after an LF (multi-word marker spread over three tokens);
            " But" after "? "; "Hmm" after "!\\t" (the tab its own token), a step whose tokens
            all lack an entropy; "end.Wait" (no whitespace after "." - no start); "3.5 wait"
            (no start); one token ".\\n\\nBut. Hmm," holding a blank line and a marker at the
            same offset plus a second marker (start "marker", marker "but"); one token
            "\\n\\nFine. Actually" (blank line lowest, marker later: start "blank line",
            marker ""); "\\r\\n \\r\\n" (blank line with CR and a space); ".\\r\\rHowever" (a
            CR-only run after "."); an empty token right at a marker's offset (it never starts
            a step); "But" followed by the non-ASCII byte 0xC3 (not an ASCII letter: a marker);
            "Double-checking" (no marker); every other marker once, "Hold on", "On second
            thought", "Let me verify/double-check/recheck/re-check/reconsider", "Double-check",
            "Alternatively"; " \\xe2\\x86" + "\\x92" (invalid UTF-8 halves of "→" in text_hex,
            joined on bytes into a valid "→"); a lone 0xFF token; the last reasoning token
            "</think>\\n\\n" (a blank-line run at the very end of S: no start).
  entropy   dyadic values with many ties (h = 240 lands inside 50 ties of 2.0; forks are "at or
            above"); think tokens with null entropy; a fork whose logprob is null.
  confidence tokens with no alternatives, with only null alternatives, with 6-7 alternatives
            (only the first 5 finite count), null alternatives mixed in; 287 scored tokens, so
            224 windows of 64.
  loop      the 10-token line "units: 2+2=4 → 4\\n" three times in a row after "... 4\\n":
            the first 8-gram to occur 3 times is " 4\\nunits: 2+2=" (it begins 2 tokens before
            each line), completing its third occurrence 27 tokens after the first begins;
            " 4\\n" and the line come once more in the answer, so `count` is 4.
  moe       prompt tokens routed (to expert 7, never used by a generated token in layer 4:
            they must be ignored); generated tokens without routing; every 9th routed token
            lacks layer 2 (fewer tokens there, paths only over tokens with all layers,
            transitions over tokens with both); answer tokens (per-phase loads); ties in
            specialisation counts and in path counts.

synthetic_dense.json  (dense, no routing: moe null) a short answer with no reasoning (steps
  [], fork threshold null, reasoning_share 0), 20 scored tokens (< 64: one window over all of
  C, bottom_10pct over 1 window).

synthetic_edge.json  (dense) no prompt tokens at all (n_prompt 0: the first step's t_ms has no
  token before it); the first reasoning token " \\n\\nHmm," holds a blank line and a marker at
  the same offset (the first step starts with "marker"); no token has an entropy (threshold,
  forks and means null) or an alternative (confidence empty, its fields null); an overlapping
  loop (the same id 12 times: occurrences at consecutive tokens, count 5); the reply is cut off
  in the reasoning (reasoning_complete false) and ends with a blank-line run.

synthetic_empty.json  (MoE) prompt tokens only, with routing: no generated token, so
  reasoning_share null, moe null.

synthetic_long.json  (dense) 2060 scored tokens, more than the 2048 of `tail`; confidences
  are dyadic with period 4, so every window of 64 inside the periodic part has exactly the
  same group confidence (0.9375 in any summation order): `lowest` must be the first of them;
  the 5 reasoning tokens' entropies interpolate the fork threshold (h = 3.2); the reasoning
  starts with an empty token (which alone is the first step, "begin") followed by "Wait" (the
  second step, a marker at S's first byte).
"""
import json
import os
import sys

SAMPLING = {"temperature": 1, "top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1,
            "repeat_last_n": 64, "frequency_penalty": 0, "presence_penalty": 0, "seed": 7}
ENTROPIES = [0.0625, 0.125, 0.25, 0.5, 0.5, 0.75, 1.0, 1.0, 1.5, 2.0, 2.0, 3.0]


def b(x):
    return x.encode("utf-8") if isinstance(x, str) else x


class Vocab:
    """Ids by first appearance of a token's bytes, so equal bytes always have equal ids."""

    def __init__(self, fixed=None):
        self.ids = dict(fixed or {})
        self.next = 10 + len(self.ids)

    def __call__(self, text):
        text = b(text)
        if text not in self.ids:
            self.ids[text] = self.next
            self.next += 1
        return self.ids[text]


def text_fields(raw):
    """`text` (U+FFFD for invalid bytes) and, when the bytes are not valid UTF-8, `text_hex`."""
    try:
        return {"text": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"text": raw.decode("utf-8", errors="replace"), "text_hex": raw.hex()}


def token(vocab, text, phase, logprob, entropy, t_ms, top, routing=None, tid=None):
    raw = b(text)
    rec = {"id": vocab(raw) if tid is None else tid}
    rec.update(text_fields(raw))
    rec.update({"phase": phase, "logprob": logprob, "entropy": entropy, "t_ms": t_ms,
                "top": top})
    if routing is not None:
        rec["routing"] = routing
    return rec


def alternative(vocab, text, logprob, tid=None):
    raw = b(text)
    a = {"id": vocab(raw) if tid is None else tid}
    a.update(text_fields(raw))
    a["logprob"] = logprob
    return a


def strip_think(raw):
    return raw.replace(b"<think>", b"").replace(b"</think>", b"")


def write_trace(path, model, tokens, stop_reason="eog", reasoning_complete=True, n_expert=None,
                prompt_text=""):
    think = b"".join(bytes.fromhex(t["text_hex"]) if "text_hex" in t else t["text"].encode()
                     for t in tokens if t["phase"] == "think")
    answer = b"".join(bytes.fromhex(t["text_hex"]) if "text_hex" in t else t["text"].encode()
                      for t in tokens if t["phase"] == "answer")
    n_prompt = sum(1 for t in tokens if t["phase"] == "prompt")
    head = {
        "format": "glassbox-trace",
        "version": 1,
        "model": model,
        "backend": "cpu",
        "prompt_text": prompt_text,
        "sampling": SAMPLING,
        "n_prompt": n_prompt,
        "n_gen": len(tokens) - n_prompt,
        "prefill_ms": 1.5,
        "decode_ms": tokens[-1]["t_ms"] - 1.5 if len(tokens) > n_prompt else 0,
        "stop_reason": stop_reason,
        "reasoning_text": strip_think(think).strip(b" \t\r\n").decode("utf-8", "replace"),
        "answer_text": answer.strip(b" \t\r\n").decode("utf-8", "replace"),
        "reasoning_complete": reasoning_complete,
    }
    if n_expert is not None:
        head["n_expert"], head["n_expert_used"] = n_expert
    check(head, tokens)
    dumps = lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    lines = ["{"]
    for k, v in head.items():
        lines.append("  " + dumps(k) + ": " + (dumps(v) if k != "sampling" else
                                               json.dumps(v, separators=(",", ":"))) + ",")
    lines.append('  "tokens": [')
    lines.append(",\n".join("    " + dumps(t) for t in tokens))
    lines.append("  ]")
    lines.append("}")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


def check(head, tokens):
    """The rules of TRACE_FORMAT.md (and of gb::read_json) the fixtures must keep."""
    phases = [t["phase"] for t in tokens]
    assert all(p in ("prompt", "think", "answer") for p in phases)
    assert phases == sorted(phases, key=lambda p: p != "prompt"), "prompt tokens come first"
    assert head["n_prompt"] == phases.count("prompt")
    assert head["n_gen"] == len(tokens) - head["n_prompt"]
    n_expert = head.get("n_expert")
    for t in tokens:
        assert isinstance(t["id"], int) and t["id"] >= 0
        if "text_hex" in t:
            raw = bytes.fromhex(t["text_hex"])
            assert t["text"] == raw.decode("utf-8", "replace")
            try:
                raw.decode("utf-8")
                raise AssertionError("text_hex only for invalid UTF-8")
            except UnicodeDecodeError:
                pass
        for k in ("logprob", "entropy"):
            assert t[k] is None or isinstance(t[k], (int, float))
        assert isinstance(t["t_ms"], (int, float))
        for a in t["top"]:
            assert set(a) <= {"id", "text", "text_hex", "logprob"}
        if "routing" in t:
            assert n_expert is not None and n_expert > 0
            r = t["routing"]
            assert r["layers"] == sorted(set(r["layers"]))
            assert len(r["experts"]) == len(r["weights"]) == len(r["layers"])
            k = len(r["experts"][0])
            assert 1 <= k <= n_expert and k == head["n_expert_used"]
            for row, w in zip(r["experts"], r["weights"]):
                assert len(row) == k == len(w) and len(set(row)) == k
                assert all(0 <= e < n_expert for e in row)


# ---------------------------------------------------------------------------------------
# synthetic_moe.json

def moe_reasoning():
    """The reasoning as token texts; a tuple (text, {"entropy": None, ...}) overrides fields."""
    no_h = {"entropy": None}
    toks = ["<think>", "\n", "Let", " me", " start", ".", " I", " wait", " here", "."]
    toks += ["\n\n", "Butter", " is", " nice", ".", " Hmmm", " no", "."]
    toks += [" WAIT", ",", " check", ".", "\n", "Let", " Me", " Check", ":", "\n"]
    # Arithmetic lines give the bulk (every digit a token, as in the demo models).
    lines = [(7, 5), (3, 9), (8, 6), (4, 4), (9, 9), (6, 1)]
    for col, (x, y) in zip(["units", "tens", "hundreds", "thousands", "ten", "more"], lines):
        s = x + y
        toks += [col, ":", " ", str(x), "+", str(y), "="] + list(str(s))
        if s >= 10:
            toks += [",", " carry", " 1"]
        toks += [" \xe2\x86".encode("latin-1"), b"\x92", " ", str(s % 10), "\n"]
    toks += ["Is", " it", " right", "?", " But", " yes", ".", "\n", "3", ".", "5", " wait",
             " 2", "."]
    toks += [" Yes", "!", "\t", ("Hmm", no_h), (",", no_h), (" ok", no_h), (" end", no_h),
             (".", no_h), ("Wait", no_h), (" no", no_h)]
    toks += [".\n\nBut. Hmm,", " fine", "."]
    toks += ["\n\nFine. Actually", " 4", "\n", "units", ":", " 2", "+", "2", "=", "4", " →",
             " 4", "\n"] + ["units", ":", " 2", "+", "2", "=", "4", " →", " 4", "\n"] * 2
    toks += ["Next", ".", "\r\n \r\n", "Then", " 5", "+", "5", "=", "1", "0", ".", " Hold on",
             ",", " fine", "."]
    toks += ["\r\r", "However", ",", " 6", "+", "6", "=", "1", "2", ".", " ", "", "Alternatively",
             ",", " 1", "2", "."]
    toks += ["\n", "But", b"\xc3", b"\xa9", "t", "ape", ":", " 9", "-", "3", "=", "6", "."]
    toks += ["\n", "Double", "-", "checking", ":", " 6", "+", "3", "=", "9", "."]
    toks += ["\n", "On", " second", " thought", ",", " 8", "*", "2", "=", "1", "6", "."]
    toks += ["\n", "Let", " me", " verify", ":", " 1", "6", "/", "2", "=", "8", "."]
    toks += ["\n", "Let", " me", " double", "-", "check", ":", " 8", "+", "8", "=", "1", "6", "."]
    toks += ["\n", "Let", " me", " recheck", ".", " Let", " me", " re", "-", "check", "."]
    toks += ["\n", "Let", " me", " reconsider", ":", " 7", "*", "3", "=", "2", "1", "."]
    toks += ["\n", "Double", "-", "check", ":", " 2", "1", "-", "3", "=", "1", "8", "."]
    toks += ["\n", "actually", " ", b"\xff", " 9", "*", "9", "=", "8", "1", "."]
    toks += ["\n", "So", " the", " sum", " is", " 1", "4", "4", "5", ".", "</think>\n\n"]
    return toks


def moe_answer():
    return (["The", " answer", " is", " 1", "4", "4", "5", ".", " 4", "\n"] +
            ["units", ":", " 2", "+", "2", "=", "4", " →", " 4", "\n"] +
            ["Done", "."])


def moe_routing(tid, g):
    """Deterministic routing of generated token g (id tid): specialised by id in layers 2
    and 4, by position in layer 1; layer 4 never uses expert 7; every 9th lacks layer 2."""
    e1 = (tid + g) % 8
    e2 = (tid * 3) % 8
    e4 = (tid * 5 + g % 2) % 7
    rows = {1: [e1, (e1 + 1 + g % 3) % 8],
            2: [e2, (e2 + 2 + (g // 5) % 2) % 8],
            4: [e4, (e4 + 1 + g % 4) % 7]}
    if g % 9 == 4:
        del rows[2]
    layers = sorted(rows)
    return {"layers": layers, "experts": [rows[l] for l in layers],
            "weights": [[0.75, 0.25] for _ in layers]}


def synthetic_moe(path):
    vocab = Vocab({b"<think>": 1, b"": 3})
    tokens = []
    prompt = ["<｜User｜>", "2", "+", "2", "<｜Assistant｜>"]
    for text in prompt:
        tokens.append(token(vocab, text, "prompt", None, None, 1.5, [],
                            {"layers": [1, 2, 4], "experts": [[7, 6], [7, 6], [7, 6]],
                             "weights": [[0.5, 0.5]] * 3}))
    gen = [(t, "think") for t in moe_reasoning()] + [(t, "answer") for t in moe_answer()]
    t_ms = 2.0
    for g, (item, phase) in enumerate(gen):
        text, over = item if isinstance(item, tuple) else (item, {})
        tid = vocab(text)
        entropy = ENTROPIES[(g * 7) % len(ENTROPIES)]
        if g % 13 == 5:
            entropy = None
        logprob = -entropy / 2 if entropy is not None else -0.25
        if g == 17:
            logprob = None  # a masked token's -inf reads back as null
        entropy = over.get("entropy", entropy)
        # Alternatives: how many and which are null follow the position.
        m = [0, 1, 2, 3, 5, 6, 7, 4][g % 8]
        top = []
        for j in range(m):
            lp = -0.125 * (j + 1) - 0.0625 * (g % 5)
            if (g + j) % 11 == 0:
                lp = None
            alt_text = ["\n", " 4", "2", b"\xe2\x86", "=", " the", "+"][(g + j) % 7]
            top.append(alternative(vocab, alt_text, lp))
        if g % 17 == 3:
            top = [alternative(vocab, " 4", None)]  # alternatives, none finite: not in C
        routing = None if (text == "" or g % 50 == 49) else moe_routing(tid, g)
        t_ms += 0.25 if g % 10 else 1.0
        tokens.append(token(vocab, text, phase, logprob, entropy, t_ms, top, routing))
    write_trace(path, "synthetic-moe", tokens, n_expert=(8, 2),
                prompt_text="<｜User｜>2+2<｜Assistant｜>")


# ---------------------------------------------------------------------------------------
# The small traces

def synthetic_dense(path):
    vocab = Vocab()
    tokens = [token(vocab, t, "prompt", None, None, 0.5, []) for t in ["<|user|>", "Hi", "\n"]]
    words = ["Hello", "!", " The", " answer", " is", " 4", ".", " Hello", " again", "!",
             " 2", "+", "2", "=", "4", ".", " Bye", " now", ".", "\n"]
    for g, w in enumerate(words):
        top = [alternative(vocab, a, -0.25 * (j + 1) - 0.125 * (g % 3))
               for j, a in enumerate(["Hello", " 4", ".", "!", " is", " now", "\n"][:1 + g % 7])]
        h = [0.25, 0.5, 1.0, 2.0][g % 4]
        tokens.append(token(vocab, w, "answer", -h / 4, h, 1.0 + 0.5 * g, top))
    write_trace(path, "synthetic-dense", tokens, prompt_text="<|user|>Hi\n")


def synthetic_edge(path):
    vocab = Vocab()
    texts = [" \n\nHmm,", " let", " me", " see", ".", "\n", "a", "a", "a", "a", "a", "a", "a",
             "a", "a", "a", "a", "a", ".", " Hold", " on", ".", "\n\n"]
    tokens = [token(vocab, t, "think", None, None, 3.0 + g, []) for g, t in enumerate(texts)]
    write_trace(path, "synthetic-edge", tokens, stop_reason="max tokens",
                reasoning_complete=False)


def synthetic_empty(path):
    vocab = Vocab()
    tokens = [token(vocab, t, "prompt", None, None, 0.75, [],
                    {"layers": [0, 1], "experts": [[i % 4], [(i + 1) % 4]],
                     "weights": [[1.0], [1.0]]})
              for i, t in enumerate(["<s>", "Hi", "?"])]
    write_trace(path, "synthetic-empty", tokens, stop_reason="stopped", n_expert=(4, 1))


def synthetic_long(path):
    vocab = Vocab({b"": 3})
    tokens = [token(vocab, "<s>", "prompt", None, None, 0.5, [])]
    for g, t in enumerate(["", "Wait", ",", " go", "."]):
        tokens.append(token(vocab, t, "think", -2.0, 0.5 + 0.25 * g, 1.0 + g,
                            [alternative(vocab, t, -2.0)]))
    for g in range(2060 - 5):
        # Every id once, so no 8-gram repeats; a few distinct confidences.
        lp = [-0.25, -0.5, -1.0, -2.0][(g * 3) % 4] - (0.5 if g >= 1500 else 0.0)
        tokens.append(token(vocab, "t", "answer", lp, 0.5, 6.0 + 0.25 * g,
                            [alternative(vocab, "t", lp, tid=100 + g)], tid=100 + g))
    write_trace(path, "synthetic-long", tokens)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/analysis"
    os.makedirs(out, exist_ok=True)
    synthetic_moe(os.path.join(out, "synthetic_moe.json"))
    synthetic_dense(os.path.join(out, "synthetic_dense.json"))
    synthetic_edge(os.path.join(out, "synthetic_edge.json"))
    synthetic_empty(os.path.join(out, "synthetic_empty.json"))
    synthetic_long(os.path.join(out, "synthetic_long.json"))


if __name__ == "__main__":
    main()
