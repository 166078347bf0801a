#!/usr/bin/env python3
"""Writes the seed corpora of the trace and history-import fuzzers into tests/fuzz/corpus/.

trace_json/ and history_import/ are JSON documents as TRACE_FORMAT.md and HISTORY_FORMAT.md
describe them; trace_binary/ inputs are a flag byte (odd: the harness appends the CRC) and a
binary trace body laid out here by hand with struct, so the seeds do not depend on Glassbox's
own writer. Usage: ${GB_PYTHON:-python3} tests/fuzz/make_history_corpus.py [corpus_dir]
"""
import json
import os
import struct
import sys


def trace(n_tokens=3, n_expert=0, k=0, layers=(), probs=False):
    toks = []
    for i in range(n_tokens):
        t = {"id": 100 + i, "text": "t%d" % i, "phase": ["prompt", "think", "answer"][i % 3],
             "logprob": None if i == 0 else -0.5 * i, "entropy": None if i == 0 else 0.25 * i,
             "t_ms": 10.0 * i, "top": [{"id": 100 + i, "text": "t%d" % i, "logprob": -0.5}]}
        if i == 2:
            t["text_hex"] = "e4bd"
        if layers:
            t["routing"] = {"layers": list(layers),
                            "experts": [[(i + l + j) % n_expert for j in range(k)] for l in layers],
                            "weights": [[0.75 if j == 0 else 0.25 for j in range(k)] for _ in layers]}
            if probs:
                t["routing"]["probs"] = [[1.0 / n_expert] * n_expert for _ in layers]
        toks.append(t)
    doc = {"format": "glassbox-trace", "version": 1, "model": "tiny", "backend": "cpu",
           "prompt_text": "<|user|>hi", "stop_reason": "eog", "reasoning_text": "r",
           "answer_text": "a", "reasoning_complete": True,
           "sampling": {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05,
                        "repeat_penalty": 1, "repeat_last_n": 64, "frequency_penalty": 0,
                        "presence_penalty": 0, "seed": 18446744073709551615},
           "n_prompt": 1, "n_gen": max(0, n_tokens - 1), "prefill_ms": 1.5, "decode_ms": 2.5,
           "tokens": toks}
    if n_expert:
        doc["n_expert"] = n_expert
        doc["n_expert_used"] = k
    return doc


def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def svarint(v):
    return varint((v << 1) ^ (v >> 63) if v >= 0 else ((-v) << 1) - 1)


def sstr(s):
    b = s.encode()
    return varint(len(b)) + b


def binary(n_tokens, n_expert=0, k=0, n_layers=0):
    """A binary trace body (TRACE_FORMAT.md, "Binary form") without its trailing CRC."""
    b = b"GBTRACE\x1a" + struct.pack("<II", 1, 0)
    for s in ("tiny", "cpu", "hi", "eog", "r", "a"):
        b += sstr(s)
    b += b"\x01" + struct.pack("<f", 0.8) + svarint(40) + struct.pack("<fff", 0.95, 0.05, 1.0)
    b += svarint(64) + struct.pack("<ffQ", 0, 0, 42) + svarint(1) + svarint(n_tokens)
    b += struct.pack("<dd", 1.5, 2.5) + varint(n_expert) + varint(k)
    b += varint(2) + svarint(7) + sstr("a") + svarint(8) + sstr("\u00e9")
    b += varint(n_tokens)
    for i in range(n_tokens):
        b += varint(i % 2) + bytes([i % 3]) + struct.pack("<ffd", -0.5, 0.25, 1.0 * i)
        b += varint(1) + varint(1) + struct.pack("<f", -2.0)
        b += varint(n_layers)
        if n_layers:
            b += varint(k) + b"".join(varint(l) for l in range(n_layers))
            b += bytes((i + l + j) % n_expert for l in range(n_layers) for j in range(k))
            b += struct.pack("<e", 0.5) * (n_layers * k) + varint(0)
    return b


def history(with_trace=True):
    msgs = [{"id": 1, "parent": None, "role": "user", "status": "complete", "created_ms": 1,
             "content": "Is 91 prime?", "reasoning": "", "answer": ""},
            {"id": 2, "parent": 1, "role": "assistant", "status": "complete", "created_ms": 2,
             "content": "", "reasoning": "7 x 13", "answer": "No.",
             "stats": {"n_prompt_tokens": 3, "n_reasoning_tokens": 2, "n_answer_tokens": 1,
                       "ttft_ms": 5, "prefill_tps": 10, "decode_tps": 20.5, "backend": "cpu",
                       "device": "x", "model": "tiny", "model_hash": "ab", "stop_reason": "eog"},
             "reproduction": {"system_prompt": "", "rendered_prompt": "p", "chat_template": "t",
                              "engine_version": "0.1"},
             "sampler": {"temperature": 0.6, "top_k": 20, "top_p": 0.95, "min_p": 0,
                         "repeat_penalty": 1, "repeat_last_n": 64, "frequency_penalty": 0,
                         "presence_penalty": 0, "seed": 42},
             "trace": trace(4, 4, 2, (1,)) if with_trace else None},
            {"id": 3, "parent": 1, "role": "user", "status": "complete", "created_ms": 3,
             "content": "edited", "reasoning": "", "answer": ""}]
    return {"format": "glassbox-history", "version": 1, "conversations": [
        {"title": "Primes", "model": "tiny", "created_ms": 1, "updated_ms": 3, "pinned": False,
         "current_leaf": 2, "settings": {"top_k": 20}, "messages": msgs}]}


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    files = {
        "trace_json/dense.json": json.dumps(trace(4)),
        "trace_json/moe.json": json.dumps(trace(4, 8, 2, (1, 3))),
        "trace_json/moe_probs.json": json.dumps(trace(3, 4, 1, (0,), probs=True)),
        "trace_json/empty.json": json.dumps(trace(0)),
        "history_import/one.json": json.dumps(history()),
        "history_import/no_trace.json": json.dumps(history(False)),
        "history_import/empty.json": json.dumps({"format": "glassbox-history", "version": 1,
                                                  "conversations": []}),
    }
    for name, text in files.items():
        os.makedirs(os.path.join(root, os.path.dirname(name)), exist_ok=True)
        with open(os.path.join(root, name), "w") as f:
            f.write(text)
    for name, body in {"dense": binary(3), "moe": binary(3, 8, 2, 2), "empty": binary(0)}.items():
        os.makedirs(os.path.join(root, "trace_binary"), exist_ok=True)
        with open(os.path.join(root, "trace_binary", name + ".bin"), "wb") as f:
            f.write(b"\x01" + body)


if __name__ == "__main__":
    main()
