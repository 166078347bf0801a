#!/usr/bin/env python3
"""Exact reference for the probabilities in a Glassbox trace: a float64 forward pass of the
model's weights (dequantised from the GGUF file, no other rounding) scores every generated
position of one or more traces, and the trace's log-probabilities are measured against it.

Usage: ${GB_PYTHON:-python3} tools/exact_reference.py -m MODEL.gguf TRACE.json [TRACE.json...]
           [--json OUT|-] [--max-rms X] [--margin M] [-v] [--llamacpp] [--rope normal|neox]
       ${GB_PYTHON:-python3} tools/exact_reference.py -m MODEL.gguf --golden FIXTURE.json
  needs numpy and gguf (tools/setup_python_env.sh); --llamacpp also llama-cpp-python (--full).
  A trace comes from `glassbox-cli run -m MODEL.gguf ... --trace TRACE.json` (the JSON form of
  engine/trace/TRACE_FORMAT.md); every trace must be of the model given with -m.

What it checks, per trace and over all traces together (errors are trace minus exact, nats):
  chosen        the generated token's logprob            RMS and max |error|
  top-N         each listed alternative's logprob, matched to the exact one by id
  margin        the exact top-1 minus top-2 log-probability at each position (small margins
                are where a correct engine may pick the other token)
  flips         positions where the trace's most likely token (its top[0], or the chosen
                token of a greedy reply) is not the exact argmax although the exact margin
                exceeds --margin (default 1e-3): a real error, not a near tie
  --max-rms X   exit status 1 when the chosen-token RMS over all traces exceeds X (for tests)
  --llamacpp    also scores the same token sequences with llama.cpp (llama-cpp-python,
                logits_all) and measures its chosen logprobs and its own top-N the same way
  --golden F    no trace: runs a tests/fixtures/models/<tiny>.json fixture's prompt and greedy
                tokens and prints the largest difference to its transformers logits
  -v            one line per generated position

The forward pass, per architecture (table ARCHS): token embedding; per layer RMSNorm (the
file's epsilon), Q/K/V projections (+ biases where the file has them: qwen2), RoPE, causal
attention with grouped K/V heads, output projection, residual, RMSNorm, SwiGLU MLP, residual;
final RMSNorm and the output matrix (the token embedding when the file ties them). The whole
sequence runs once with full causal attention, as prefill would; a generated token's logits
are those of the position before it.

RoPE convention: llama.cpp's converter permutes llama's Q and K rows so that RoPE rotates
adjacent pairs (x[2i], x[2i+1]) ("normal" mode, GPT-J style), while qwen2 keeps the Hugging
Face layout and rotates halves (x[i], x[i + n_rot/2]) ("NeoX" mode); llama.cpp picks the mode
by architecture (LLAMA_ROPE_TYPE_NORM for llama, LLAMA_ROPE_TYPE_NEOX for qwen2). Checked two
ways. (1) --golden against the transformers logits committed with the tiny fixtures
(tools/gen_tiny_models.py): tiny_llama, tiny_llama_bias, tiny_llama3_rope and tiny_qwen2 agree
to within 1.1e-5 in logits and log-probabilities (transformers ran in float32), while --rope
with the other pairing is off by 8 to 13 logits. (2) llama.cpp itself (--llamacpp
--llamacpp-cache-type f32) on the F32 tiny fixtures agrees with this pass to 2.6e-6 in
log-probability On the real SmolLM2 file (written by llama.cpp's converter) the
other pairing gives 4.0 nats RMS on the chosen token instead of 0.07.

Precision to expect: on the F32 tiny fixtures, a trace made with `--cache-type f32` agrees to
about 1e-6 (float32 arithmetic); with the default F16 KV cache to about 1e-3. On quantised
files the engine's 8-bit rounding of activations in the dot products dominates (SmolLM2-135M
Q4_1: 0.056 nats RMS on the chosen token, with an F16 or an F32 KV cache alike).

Runtime on 2 cores shared with a build: tiny fixtures about a second; SmolLM2-135M 11 s to read
the file's metadata, then 5 s for the first 86-token trace and 2 s for each further one with
OPENBLAS_NUM_THREADS=1 (8-11 s each when OpenBLAS's two threads fight the build);
Qwen2.5-0.5B 32 s for the first 79-token trace and 13 s for the next (two threads). The
dequantised weights are kept for further traces when they fit in 6 GiB (Qwen2.5-0.5B: 5.8 GB
resident).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

CACHE_LIMIT_BYTES = 6 << 30

# Architecture -> RoPE pairing. Biases (q/k/v/output) are used wherever the file has them.
ARCHS = {
    "llama": {"rope": "normal"},
    "qwen2": {"rope": "neox"},
}


class Model:
    """A GGUF file's metadata and lazily dequantised float64 weights."""

    def __init__(self, path):
        self.path = path
        self.reader = GGUFReader(path)
        self.tensors = {t.name: t for t in self.reader.tensors}
        # Several traces reuse the dequantised layers when they fit (a 0.5B model: 4 GB).
        n_elements = sum(int(t.n_elements) for t in self.reader.tensors)
        self.cache = {} if n_elements * 8 <= CACHE_LIMIT_BYTES else None
        self.arch = self.meta("general.architecture")
        if self.arch not in ARCHS:
            raise SystemExit(f"{path}: architecture '{self.arch}' is not supported "
                             f"(this reference knows {', '.join(ARCHS)})")
        a = self.arch
        self.n_layer = int(self.meta(f"{a}.block_count"))
        self.d = int(self.meta(f"{a}.embedding_length"))
        self.n_head = int(self.meta(f"{a}.attention.head_count"))
        self.n_head_kv = int(self.meta(f"{a}.attention.head_count_kv", self.n_head))
        self.head_dim = int(self.meta(f"{a}.attention.key_length", self.d // self.n_head))
        self.n_rot = int(self.meta(f"{a}.rope.dimension_count", self.head_dim))
        self.eps = float(self.meta(f"{a}.attention.layer_norm_rms_epsilon"))
        self.rope_base = float(self.meta(f"{a}.rope.freq_base", 10000.0))
        self.rope = ARCHS[a]["rope"]
        scaling = self.meta(f"{a}.rope.scaling.type", "none")
        self.rope_pos_scale = 1.0
        if scaling == "linear":
            self.rope_pos_scale = 1.0 / float(self.meta(f"{a}.rope.scaling.factor"))
        elif scaling not in ("none", ""):
            raise SystemExit(f"{path}: rope scaling '{scaling}' is not supported here")
        # Llama 3.1-style per-frequency divisors, when the file carries them.
        self.rope_freqs = self.weight("rope_freqs.weight") if "rope_freqs.weight" in self.tensors \
            else None
        self.output_name = "output.weight" if "output.weight" in self.tensors \
            else "token_embd.weight"

    def meta(self, key, default=None):
        f = self.reader.fields.get(key)
        if f is None:
            if default is None:
                raise SystemExit(f"{self.path}: metadata key '{key}' is missing")
            return default
        v = f.contents()
        return v

    def weight(self, name, rows=None):
        """Tensor `name` as float64 in numpy layout [ne1][ne0] (a matrix is [out][in]); only
        the given rows (a 2-D tensor's first index) when asked, so a large embedding is not
        dequantised whole for a few tokens."""
        t = self.tensors.get(name)
        if t is None:
            raise SystemExit(f"{self.path}: tensor '{name}' is missing")
        if rows is None and self.cache is not None and name in self.cache:
            return self.cache[name]
        data = t.data if rows is None else t.data[rows]
        w = dequantize(np.asarray(data), t.tensor_type).astype(np.float64)
        if rows is None:
            w = w.reshape([int(n) for n in reversed(t.shape)])
            if self.cache is not None:
                self.cache[name] = w
        return w

    def opt_weight(self, name):
        return self.weight(name) if name in self.tensors else None

    def describe(self):
        types = sorted({t.tensor_type.name for t in self.reader.tensors})
        return (f"{os.path.basename(self.path)} ({self.arch}, {self.n_layer} layers, "
                f"d {self.d}, {self.n_head}/{self.n_head_kv} heads, rope {self.rope}, "
                f"{'/'.join(types)})")


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def rope(x, pos, m, mode):
    """Rotates x [T][heads][head_dim] in place by position: the first n_rot dims, frequencies
    theta_i = pos * base^(-2i/n_rot) (divided by rope_freqs where the file has them)."""
    n_rot = m.n_rot
    inv = m.rope_base ** (-np.arange(0, n_rot, 2, dtype=np.float64) / n_rot)
    if m.rope_freqs is not None:
        inv = inv / m.rope_freqs.reshape(-1)[: n_rot // 2]
    ang = (pos.astype(np.float64) * m.rope_pos_scale)[:, None] * inv[None, :]  # [T][n_rot/2]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    if mode == "normal":  # adjacent pairs (x[2i], x[2i+1])
        a, b = x[..., 0:n_rot:2].copy(), x[..., 1:n_rot:2].copy()
        x[..., 0:n_rot:2] = a * cos - b * sin
        x[..., 1:n_rot:2] = a * sin + b * cos
    else:  # NeoX: halves (x[i], x[i + n_rot/2])
        h = n_rot // 2
        a, b = x[..., :h].copy(), x[..., h:n_rot].copy()
        x[..., :h] = a * cos - b * sin
        x[..., h:n_rot] = a * sin + b * cos
    return x


def linear(x, m, name):
    y = x @ m.weight(name + ".weight").T
    b = m.opt_weight(name + ".bias")
    return y if b is None else y + b


def forward(m, ids, rope_mode, logit_rows):
    """Hidden states of the whole sequence `ids` in float64; returns the logits of the
    positions in `logit_rows` [len(logit_rows)][vocab]."""
    T = len(ids)
    pos = np.arange(T)
    x = m.weight("token_embd.weight", rows=np.asarray(ids))
    hd, nh, nkv = m.head_dim, m.n_head, m.n_head_kv
    group = nh // nkv
    causal = np.triu(np.full((T, T), -np.inf), k=1)
    for l in range(m.n_layer):
        p = f"blk.{l}."
        h = rms_norm(x, m.weight(p + "attn_norm.weight"), m.eps)
        q = rope(linear(h, m, p + "attn_q").reshape(T, nh, hd), pos, m, rope_mode)
        k = rope(linear(h, m, p + "attn_k").reshape(T, nkv, hd), pos, m, rope_mode)
        v = linear(h, m, p + "attn_v").reshape(T, nkv, hd)
        k = np.repeat(k, group, axis=1)  # query head j reads K/V head j // group
        v = np.repeat(v, group, axis=1)
        s = np.einsum("thd,shd->hts", q, k) / math.sqrt(hd) + causal
        s = np.exp(s - s.max(axis=-1, keepdims=True))
        s /= s.sum(axis=-1, keepdims=True)
        att = np.einsum("hts,shd->thd", s, v).reshape(T, nh * hd)
        x = x + linear(att, m, p + "attn_output")
        h = rms_norm(x, m.weight(p + "ffn_norm.weight"), m.eps)
        gate = h @ m.weight(p + "ffn_gate.weight").T
        up = h @ m.weight(p + "ffn_up.weight").T
        x = x + (silu(gate) * up) @ m.weight(p + "ffn_down.weight").T
    x = rms_norm(x[logit_rows], m.weight("output_norm.weight"), m.eps)
    # The output matrix by slices of the vocabulary: a 150k-token float64 copy is 1 GB.
    t = m.tensors[m.output_name]
    n_vocab = int(t.shape[1])
    if m.cache is not None:
        logits = x @ m.weight(m.output_name).T
    else:
        logits = np.empty((len(logit_rows), n_vocab))
        step = 16384
        for r in range(0, n_vocab, step):
            rows = np.arange(r, min(r + step, n_vocab))
            logits[:, rows] = x @ m.weight(m.output_name, rows=rows).T
    b = m.opt_weight("output.bias")
    return logits if b is None else logits + b


def log_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    mx = z.max(axis=-1, keepdims=True)
    return z - mx - np.log(np.exp(z - mx).sum(axis=-1, keepdims=True))


class Errors:
    """Accumulates trace-minus-exact errors."""

    def __init__(self):
        self.chosen, self.top, self.margins, self.flips, self.n_skipped = [], [], [], [], 0

    def extend(self, other):
        self.chosen += other.chosen
        self.top += other.top
        self.margins += other.margins
        self.flips += other.flips
        self.n_skipped += other.n_skipped

    @staticmethod
    def stats(v):
        if not v:
            return None, None
        a = np.abs(np.asarray(v))
        return float(np.sqrt(np.mean(a * a))), float(a.max())

    def summary(self):
        c_rms, c_max = self.stats(self.chosen)
        t_rms, t_max = self.stats(self.top)
        return {"n_positions": len(self.chosen), "chosen_rms": c_rms, "chosen_max": c_max,
                "n_alternatives": len(self.top), "top_rms": t_rms, "top_max": t_max,
                "min_exact_margin": min(self.margins) if self.margins else None,
                "flips": self.flips, "n_unscored": self.n_skipped}


def measure(exact_lp, records, label, margin_min, verbose, greedy):
    """Compares one trace's (or llama.cpp's) numbers with the exact log-softmax rows.
    records: per generated position (chosen id, chosen logprob or None, [(id, logprob)])."""
    e = Errors()
    for i, (tok, lp, top) in enumerate(records):
        row = exact_lp[i]
        order = np.argsort(-row, kind="stable")[:2]
        margin = float(row[order[0]] - row[order[1]])
        e.margins.append(margin)
        if lp is None:
            e.n_skipped += 1
            continue
        err = lp - row[tok]
        e.chosen.append(float(err))
        alt_err = [float(alp - row[aid]) for aid, alp in top]
        e.top += alt_err
        engine_best = top[0][0] if top else (tok if greedy else None)
        if engine_best is not None and engine_best != int(order[0]) and margin > margin_min:
            e.flips.append({"position": i, "token": int(engine_best),
                            "exact_token": int(order[0]), "exact_margin": margin})
        if verbose:
            worst = max((abs(x) for x in alt_err), default=0.0)
            print(f"  {label:>10} gen {i:3d}  id {tok:6d}  exact {row[tok]:10.5f}  "
                  f"err {err:+.2e}  worst alt {worst:.2e}  margin {margin:8.4f}"
                  f"{'  FLIP' if e.flips and e.flips[-1]['position'] == i else ''}")
    return e


def trace_records(trace):
    n_prompt = int(trace["n_prompt"])
    toks = trace["tokens"]
    ids = [int(t["id"]) for t in toks]
    if any(i < 0 for i in ids):
        raise SystemExit("the trace has tokens without ids (a remote reply sent as text): "
                         "nothing to score")
    recs = [(t["id"], t["logprob"], [(a["id"], a["logprob"]) for a in t.get("top", [])])
            for t in toks[n_prompt:]]
    return ids, n_prompt, recs


def llamacpp_records(model_path, ids, n_prompt, top_n, cache_type):
    """llama.cpp's log-softmax over the same sequence (one batch, logits of every position):
    per generated position the chosen token's logprob and llama.cpp's own top-N."""
    from llama_cpp import Llama
    n_ctx = max(512, len(ids) + 8)
    ggml_type = {"f32": 0, "f16": 1}[cache_type]  # GGML_TYPE_F32, GGML_TYPE_F16
    llm = Llama(model_path=model_path, n_ctx=n_ctx, n_batch=n_ctx, n_threads=2,
                logits_all=True, seed=0, verbose=False, type_k=ggml_type, type_v=ggml_type)
    llm.reset()
    llm.eval(ids)
    recs = []
    for p in range(n_prompt, len(ids)):
        lp = log_softmax(np.array(llm.scores[p - 1], dtype=np.float64))
        order = np.argsort(-lp, kind="stable")[:top_n]
        recs.append((ids[p], float(lp[ids[p]]), [(int(a), float(lp[a])) for a in order]))
    del llm
    return recs


def fmt(x, spec=".2e"):
    return "-" if x is None else format(x, spec)


def print_table(rows):
    print(f"{'trace':<28}{'source':<11}{'pos':>5}{'chosen RMS':>12}{'chosen max':>12}"
          f"{'alts':>6}{'top RMS':>10}{'top max':>10}{'min margin':>12}{'flips':>7}")
    for name, source, s in rows:
        print(f"{name[:27]:<28}{source:<11}{s['n_positions']:>5}{fmt(s['chosen_rms']):>12}"
              f"{fmt(s['chosen_max']):>12}{s['n_alternatives']:>6}{fmt(s['top_rms']):>10}"
              f"{fmt(s['top_max']):>10}{fmt(s['min_exact_margin'], '.4f'):>12}"
              f"{len(s['flips']):>7}")
    for name, source, s in rows:
        if name == "all":
            continue
        for f in s["flips"]:
            print(f"flip: {name} ({source}) generated position {f['position']}: "
                  f"{f['token']} instead of {f['exact_token']} "
                  f"(exact margin {f['exact_margin']:.4f})")


def run_golden(m, path, rope_mode):
    """Largest |logit difference| to the transformers logits stored with a tiny fixture."""
    g = json.load(open(path))
    prompt, gen = g["prompt_ids"], g["generated_ids"]
    ids = prompt + gen[:-1]
    ref = np.array(g["prompt_logits"] + g["logits"][1:], dtype=np.float64)
    t0 = time.time()
    logits = forward(m, ids, rope_mode, np.arange(len(ids)))
    diff = np.abs(logits - ref).max()
    lp_diff = np.abs(log_softmax(logits) - log_softmax(ref)).max()
    print(f"{m.describe()}\n{os.path.basename(path)}: {len(ids)} positions, rope {rope_mode}: "
          f"max |logit - transformers| {diff:.2e}, max |logprob diff| {lp_diff:.2e} "
          f"({time.time() - t0:.1f} s)")
    return diff


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", required=True, help="the GGUF file the traces came from")
    ap.add_argument("traces", nargs="*", help="trace JSON files (glassbox-cli run --trace)")
    ap.add_argument("--json", metavar="OUT", help="write the numbers as JSON to OUT ('-': stdout)")
    ap.add_argument("--max-rms", type=float, help="exit 1 if the chosen-token RMS exceeds this")
    ap.add_argument("--margin", type=float, default=1e-3,
                    help="exact top-2 margin above which a different argmax is a flip")
    ap.add_argument("--rope", choices=["normal", "neox"],
                    help="override the architecture's RoPE pairing (to test the convention)")
    ap.add_argument("--llamacpp", action="store_true", help="also measure llama.cpp")
    ap.add_argument("--llamacpp-cache-type", choices=["f16", "f32"], default="f16",
                    help="llama.cpp's KV cache type (default f16, llama.cpp's own default)")
    ap.add_argument("--golden", metavar="FIXTURE", help="compare with a tiny fixture's "
                    "transformers logits instead of measuring traces")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per position")
    args = ap.parse_args()

    m = Model(args.model)
    rope_mode = args.rope or m.rope
    if args.golden:
        diff = run_golden(m, args.golden, rope_mode)
        return 1 if args.max_rms is not None and diff > args.max_rms else 0
    if not args.traces:
        ap.error("give at least one trace (or --golden FIXTURE)")

    print(m.describe())
    rows, doc = [], {"model": args.model, "arch": m.arch, "rope": rope_mode, "traces": []}
    total = {"glassbox": Errors(), "llama.cpp": Errors()}
    for path in args.traces:
        trace = json.load(open(path))
        if trace.get("format") != "glassbox-trace":
            raise SystemExit(f"{path}: not a glassbox trace (format '{trace.get('format')}')")
        names = {m.meta("general.name", ""), args.model, os.path.basename(args.model)}
        if trace.get("model") not in names:
            raise SystemExit(f"{path}: the trace is of model '{trace.get('model')}', but "
                             f"{args.model} is '{m.meta('general.name', '')}': give the GGUF "
                             f"file the trace was made with (-m)")
        ids, n_prompt, recs = trace_records(trace)
        if not recs:
            print(f"{path}: no generated tokens, skipped")
            continue
        s = trace.get("sampling", {})
        greedy = s.get("temperature") == 0 and s.get("repeat_penalty", 1) == 1 and \
            s.get("frequency_penalty", 0) == 0 and s.get("presence_penalty", 0) == 0
        t0 = time.time()
        exact = log_softmax(forward(m, ids[:-1], rope_mode, np.arange(n_prompt - 1, len(ids) - 1)))
        seconds = time.time() - t0
        name = os.path.basename(path)
        print(f"{name}: {n_prompt} prompt + {len(recs)} generated tokens, "
              f"float64 forward pass {seconds:.1f} s")
        entry = {"trace": path, "n_prompt": n_prompt, "n_gen": len(recs), "seconds": seconds}
        e = measure(exact, recs, "glassbox", args.margin, args.verbose, greedy)
        for f in e.flips:
            f["trace"] = name
        total["glassbox"].extend(e)
        rows.append((name, "glassbox", e.summary()))
        entry["glassbox"] = e.summary()
        entry["exact_margins"] = e.margins
        if args.llamacpp:
            top_n = max((len(r[2]) for r in recs), default=5)
            lrecs = llamacpp_records(args.model, ids, n_prompt, top_n,
                                     args.llamacpp_cache_type)
            le = measure(exact, lrecs, "llama.cpp", args.margin, args.verbose, True)
            for f in le.flips:
                f["trace"] = name
            total["llama.cpp"].extend(le)
            rows.append((name, "llama.cpp", le.summary()))
            entry["llama.cpp"] = le.summary()
        doc["traces"].append(entry)
    if len(doc["traces"]) > 1:
        for source in total:
            if total[source].margins:
                rows.append(("all", source, total[source].summary()))
    doc["all"] = {k: v.summary() for k, v in total.items() if v.margins}
    print()
    print_table(rows)
    if args.json:
        text = json.dumps(doc, indent=1)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")
    rms = total["glassbox"].summary()["chosen_rms"]
    if args.max_rms is not None and rms is not None and rms > args.max_rms:
        print(f"chosen-token RMS {rms:.3e} exceeds --max-rms {args.max_rms:g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
