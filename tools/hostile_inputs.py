#!/usr/bin/env python3
"""Hostile-input suite for the files and arguments glassbox-cli takes: GGUF files (structure,
hyper-parameters, tokenizer metadata, chat templates), Hugging Face checkpoint folders
(config.json, safetensors, tokenizer.json and tokenizer_config.json), files that are not regular
files, and command-line arguments.

Each case is built here from the tiny fixtures (GGUF laid out by hand with struct, no Glassbox
code involved), run through glassbox-cli with a time limit, and judged:
  pass     the expected outcome: an error (non-zero exit, message containing the expected text,
           nothing on stdout for run) or, where the input is legal, a normal exit
  crash    killed by a signal, or a sanitizer report
  hang     still running after the time limit
  memory   peak resident memory above the limit
  silent   exit 0 where the input is wrong
  message  an error, but without the text that names the problem
Prints one line per case that is not a pass, a summary per surface, and exits non-zero when any
case fails. Not part of the default test run (it takes about a minute); run it after changes to a
reader: tools/hostile_inputs.py [--cli build/app/glassbox-cli] [--only SUBSTRING] [-v]
"""
import argparse
import json
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures", "models")

# GGUF value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
          BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}


# ---- a minimal GGUF reader and writer (the format as specified) ----

class Reader:
    def __init__(self, b, pos=0):
        self.b, self.pos = b, pos

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0]

    def string(self):
        n = self.take("<Q")
        s = self.b[self.pos:self.pos + n]
        self.pos += n
        return s

    def value(self, t):
        if t == STR:
            return self.string()
        if t == ARR:
            et = self.take("<I")
            n = self.take("<Q")
            return (et, [self.value(et) for _ in range(n)])
        return self.take(SCALAR[t])


def enc_str(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("<Q", len(s)) + s


class Raw(bytes):
    """A value already encoded (e.g. arrays nested deeper than Python's recursion)."""


def enc_value(t, v):
    if isinstance(v, Raw):
        return bytes(v)
    if t == STR:
        return enc_str(v)
    if t == ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(enc_value(et, x) for x in items)
    return struct.pack(SCALAR[t], v)


class Gguf:
    """kvs: list of [key bytes, type, value]; tensors: list of [name, dims, type, data bytes]."""

    def __init__(self, path):
        b = open(path, "rb").read()
        r = Reader(b, 4)
        self.version = r.take("<I")
        n_t, n_kv = r.take("<Q"), r.take("<Q")
        self.kvs = []
        for _ in range(n_kv):
            k = r.string()
            t = r.take("<I")
            self.kvs.append([k, t, r.value(t)])
        infos = []
        for _ in range(n_t):
            name = r.string()
            nd = r.take("<I")
            dims = [r.take("<Q") for _ in range(nd)]
            tt = r.take("<I")
            off = r.take("<Q")
            infos.append((name, dims, tt, off))
        align = self.get(b"general.alignment") or 32
        data_start = (r.pos + align - 1) // align * align
        ends = sorted(off for *_, off in infos) + [len(b) - data_start]
        self.tensors = []
        for name, dims, tt, off in infos:
            nxt = min(e for e in ends if e > off) if any(e > off for e in ends) else len(b)
            self.tensors.append([name, dims, tt, b[data_start + off:data_start + nxt]])

    def get(self, key):
        for k, t, v in self.kvs:
            if k == key:
                return v
        return None

    def set(self, key, t, v):
        if isinstance(key, str):
            key = key.encode()
        for kv in self.kvs:
            if kv[0] == key:
                kv[1], kv[2] = t, v
                return self
        self.kvs.append([key, t, v])
        return self

    def drop(self, key):
        key = key.encode() if isinstance(key, str) else key
        self.kvs = [kv for kv in self.kvs if kv[0] != key]
        return self

    def bytes(self, align=32):
        head = b"GGUF" + struct.pack("<IQQ", self.version, len(self.tensors), len(self.kvs))
        head += b"".join(enc_str(k) + struct.pack("<I", t) + enc_value(t, v) for k, t, v in self.kvs)
        off, blobs = 0, []
        for name, dims, tt, data in self.tensors:
            head += enc_str(name) + struct.pack("<I", len(dims))
            head += b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", tt, off)
            blobs.append((off, data))
            off += (len(data) + align - 1) // align * align
        head += b"\0" * (-len(head) % align)
        body = bytearray(off)
        for o, d in blobs:
            body[o:o + len(d)] = d
        return head + bytes(body)


def tensor_info_offset(b):
    """Byte offset of the first tensor info in a GGUF file."""
    r = Reader(b, 4)
    r.take("<I")
    r.take("<Q")
    n_kv = r.take("<Q")
    for _ in range(n_kv):
        r.string()
        r.value(r.take("<I"))
    return r.pos


# ---- running one case ----

class Case:
    def __init__(self, surface, name, args, expect=None, ok=False, stdin=None, check=None,
                 files=None):
        self.surface, self.name, self.args = surface, name, args
        self.expect, self.ok, self.check, self.files = expect, ok, check, files or {}


def run_case(cli, case, tmp, limit_s, mem_mb):
    """Returns (verdict, why, peak RSS in MB, seconds)."""
    args = [a.replace("{tmp}", tmp) for a in case.args]
    # The rusage of our own child counts the pages of this (large) Python process it was forked
    # from before exec, so every case read as this script's size: GNU time reports the peak of
    # glassbox-cli alone.
    timer = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
    peak_file = os.path.join(tmp, "peak_kib")
    prefix = [timer, "-f", "%M", "-o", peak_file] if timer else []
    t0 = time.monotonic()
    p = subprocess.Popen(prefix + [cli] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    chunks = {"out": [], "err": []}

    def drain(stream, key):
        for block in iter(lambda: stream.read(65536), b""):
            if sum(map(len, chunks[key])) < (4 << 20):
                chunks[key].append(block)

    readers = [threading.Thread(target=drain, args=(p.stdout, "out")),
               threading.Thread(target=drain, args=(p.stderr, "err"))]
    for r in readers:
        r.start()
    status = usage = None
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - t0 > limit_s:
            os.killpg(p.pid, signal.SIGKILL)
            _, status, usage = os.wait4(p.pid, 0)
            p.returncode = -9
            for r in readers:
                r.join()
            return "hang", f"still running after {limit_s}s", usage.ru_maxrss / 1024, limit_s
        time.sleep(0.005)
    p.returncode = os.waitstatus_to_exitcode(status)
    for r in readers:
        r.join()
    dt = time.monotonic() - t0
    peak_mb = usage.ru_maxrss / 1024  # Linux reports KiB
    if timer:
        # With -o, GNU time writes its notes and the peak (KiB) to the file, not to stderr, and
        # exits with the command's status or 128 + the signal that ended it.
        try:
            with open(peak_file) as fh:
                note = fh.read()
            peak_mb = int(note.split()[-1]) / 1024
            if "terminated by signal" in note:
                p.returncode = -int(note.split("terminated by signal")[1].split()[0])
        except (OSError, ValueError, IndexError):
            pass
    out = b"".join(chunks["out"]).decode(errors="replace")
    err = b"".join(chunks["err"]).decode(errors="replace")
    rc = p.returncode
    if rc < 0 or "Sanitizer" in err or "runtime error:" in err:
        return "crash", f"exit {rc}: {err[-300:]}", peak_mb, dt
    if peak_mb > mem_mb:
        return "memory", f"peak {peak_mb:.0f} MB", peak_mb, dt
    if "\x1b" in out or "\x1b" in err:
        return "message", "a raw escape character reached the terminal", peak_mb, dt
    if case.check:
        why = case.check(rc, out, err)
        return ("pass", "", peak_mb, dt) if not why else ("message", why, peak_mb, dt)
    if case.ok:
        if rc != 0:
            return "message", f"a legal input failed: {err.strip()[-300:]}", peak_mb, dt
        return "pass", "", peak_mb, dt
    if rc == 0:
        return "silent", f"exit 0; stdout: {out[:200]!r}", peak_mb, dt
    if case.expect and case.expect not in err:
        return "message", f"expected {case.expect!r} in: {err.strip()[-400:]}", peak_mb, dt
    return "pass", "", peak_mb, dt


# ---- the cases ----

def gguf_cases(tmp):
    cases = []
    base_path = os.path.join(FIX, "tiny_llama.gguf")
    raw = open(base_path, "rb").read()

    def write(name, data):
        p = os.path.join(tmp, name + ".gguf")
        with open(p, "wb") as fh:
            fh.write(data)
        return p

    def run_err(name, data, expect=None):
        p = write(name, data)
        cases.append(Case("gguf structure", name, ["run", "-m", p, "-p", "hi", "-n", "2"], expect))

    # Structure: counts, lengths, types and offsets that lie.
    head = raw[:24]
    for cut in (0, 3, 4, 8, 16, 23, 24, 40, 100, 500, 1000, tensor_info_offset(raw) + 7,
                len(raw) // 2, len(raw) - 1):
        run_err(f"truncated_at_{cut}", raw[:cut])
    run_err("bad_magic", b"GGUX" + raw[4:], "GGUF")
    for v in (0, 1, 4, 0x7FFFFFFF, 0xFFFFFFFF):
        run_err(f"version_{v}", raw[:4] + struct.pack("<I", v) + raw[8:], "version")
    for n in (2**63, 2**63 - 1, 2**40, 2**32 + 30):
        run_err(f"n_tensors_{n}", raw[:8] + struct.pack("<Q", n) + raw[16:])
        run_err(f"n_kv_{n}", raw[:16] + struct.pack("<Q", n) + raw[24:])
    # The first key's length, and the first key's value type.
    klen = struct.unpack_from("<Q", raw, 24)[0]
    for n in (2**63, 2**32, 0):
        run_err(f"key_len_{n}", raw[:24] + struct.pack("<Q", n) + raw[32:])
    tpos = 32 + klen
    for t in (13, 99, 0xFFFFFFFF):
        run_err(f"value_type_{t}", raw[:tpos] + struct.pack("<I", t) + raw[tpos + 4:])
    # The first tensor info: name length, dimension count, dimensions, type, offset.
    ti = tensor_info_offset(raw)
    nlen = struct.unpack_from("<Q", raw, ti)[0]
    nd_pos = ti + 8 + nlen
    nd = struct.unpack_from("<I", raw, nd_pos)[0]
    dims_pos = nd_pos + 4
    type_pos = dims_pos + 8 * nd
    off_pos = type_pos + 4
    run_err("tensor_name_len_2^40", raw[:ti] + struct.pack("<Q", 2**40) + raw[ti + 8:])
    for n in (0, 5, 2**31):
        run_err(f"tensor_ndims_{n}", raw[:nd_pos] + struct.pack("<I", n) + raw[nd_pos + 4:])
    for d in (0, 2**62, 2**63 + 5):
        run_err(f"tensor_dim_{d}", raw[:dims_pos] + struct.pack("<Q", d) + raw[dims_pos + 8:])
    for t in (99, 1000, 0xFFFFFFFF):
        run_err(f"tensor_type_{t}", raw[:type_pos] + struct.pack("<I", t) + raw[type_pos + 4:])
    for o in (2**40, 3, 2**64 - 32):
        run_err(f"tensor_offset_{o}", raw[:off_pos] + struct.pack("<Q", o) + raw[off_pos + 8:])

    # Arrays that claim more than the file holds, or nest without end.
    def kv_file(name, key_bytes_value):
        g = Gguf(base_path)
        g.kvs.append(key_bytes_value)
        run_err(name, g.bytes())

    g = Gguf(base_path)
    data = g.bytes()
    # A huge array count on an appended key: patch the count after writing.
    marker = b"hostile.array"
    g.set(marker, ARR, (U32, [7, 7]))
    b = g.bytes()
    at = b.index(marker) + len(marker) + 4 + 4
    for n in (2**61, 2**40, 2**32):
        run_err(f"array_count_{n}", b[:at] + struct.pack("<Q", n) + b[at + 8:])
    g = Gguf(base_path)
    g.set("hostile.strings", ARR, (STR, [b"x"] * 3))
    b = g.bytes()
    at = b.index(b"hostile.strings") + len(b"hostile.strings") + 4 + 4
    run_err("string_array_count_2^50", b[:at] + struct.pack("<Q", 2**50) + b[at + 8:])
    nested = Raw(struct.pack("<IQ", ARR, 1) * 2000 + struct.pack("<IQ", U8, 1) + b"\x01")
    g = Gguf(base_path)
    g.set("hostile.nested", ARR, nested)
    cases.append(Case("gguf structure", "array_nested_2000", ["inspect", write("nested", g.bytes())],
                      ok=None, check=lambda rc, o, e: None if rc in (0, 1) else f"exit {rc}"))
    g = Gguf(base_path)
    g.set("general.alignment", U32, 0)
    run_err("alignment_0", g.bytes(), "alignment")
    g = Gguf(base_path)
    g.set("general.alignment", U32, 3)
    run_err("alignment_3", g.bytes(), "alignment")
    g = Gguf(base_path)
    g.kvs.append(list(g.kvs[0]))
    run_err("duplicate_key", g.bytes(), "duplicate key")
    g = Gguf(base_path)
    g.tensors.append(list(g.tensors[0]))
    run_err("duplicate_tensor", g.bytes(), "duplicate tensor")

    # Hyper-parameters: each edit makes a wrong model that must not load.
    def hp(name, edit, expect, surface="gguf hyper-parameters"):
        g = Gguf(base_path)
        edit(g)
        p = write(name, g.bytes())
        cases.append(Case(surface, name, ["run", "-m", p, "-p", "hi", "-n", "2"], expect))

    a = "llama."
    hp("block_count_0", lambda g: g.set(a + "block_count", U32, 0), "block_count")
    hp("block_count_fewer", lambda g: g.set(a + "block_count", U32, 2), "block_count")
    hp("block_count_more", lambda g: g.set(a + "block_count", U32, 4), "blk.3")
    hp("block_count_2^32+3", lambda g: g.set(a + "block_count", U64, 2**32 + 3), "block_count")
    hp("block_count_negative", lambda g: g.set(a + "block_count", I32, -1), "block_count")
    hp("block_count_string", lambda g: g.set(a + "block_count", STR, b"3"), "block_count")
    hp("embedding_0", lambda g: g.set(a + "embedding_length", U32, 0), "embedding_length")
    hp("embedding_2^40", lambda g: g.set(a + "embedding_length", U64, 2**40), "embedding_length")
    hp("embedding_mismatch", lambda g: g.set(a + "embedding_length", U32, 96), "token_embd")
    hp("heads_0", lambda g: g.set(a + "attention.head_count", U32, 0), "head_count")
    hp("heads_not_dividing", lambda g: g.set(a + "attention.head_count", U32, 7), "head")
    hp("heads_kv_0", lambda g: g.set(a + "attention.head_count_kv", U32, 0), "head_count_kv")
    hp("heads_kv_more", lambda g: g.set(a + "attention.head_count_kv", U32, 64), "head_count")
    hp("context_0", lambda g: g.set(a + "context_length", U32, 0), "context_length")
    hp("context_2^40", lambda g: g.set(a + "context_length", U64, 2**40), "context_length")
    for v in (0.0, -1.0, float("nan"), float("inf")):
        hp(f"rms_eps_{v}", lambda g, v=v: g.set(a + "attention.layer_norm_rms_epsilon", F32, v),
           "layer_norm_rms_epsilon")
    for v in (float("inf"), float("nan"), -1.0, 0.0, 1.0, 1e30):
        hp(f"rope_base_{v}", lambda g, v=v: g.set(a + "rope.freq_base", F32, v), "rope.freq_base")
    hp("rope_dims_odd", lambda g: g.set(a + "rope.dimension_count", U32, 7), "dimension_count")
    hp("rope_dims_wrap", lambda g: g.set(a + "rope.dimension_count", U64, 2**32 + 2),
       "dimension_count")
    hp("rope_scaling_unknown", lambda g: g.set(a + "rope.scaling.type", STR, b"evil"), "evil")
    for v in (float("nan"), float("inf"), -2.0, 1e9):
        hp(f"rope_factor_{v}", lambda g, v=v: (g.set(a + "rope.scaling.type", STR, b"yarn"),
                                               g.set(a + "rope.scaling.factor", F32, v)),
           "rope.scaling.factor")
    for key, v in (("yarn_beta_fast", float("nan")), ("yarn_beta_slow", float("inf")),
                   ("attn_factor", float("nan")), ("attn_factor", -1.0)):
        hp(f"yarn_{key}_{v}",
           lambda g, key=key, v=v: (g.set(a + "rope.scaling.type", STR, b"yarn"),
                                    g.set(a + "rope.scaling.factor", F32, 4.0),
                                    g.set(a + "rope.scaling." + key, F32, v)),
           key)
    for v, t in ((0, U32), (-1, I32), (2**40, U64)):
        hp(f"yarn_original_context_{v}",
           lambda g, v=v, t=t: (g.set(a + "rope.scaling.type", STR, b"yarn"),
                                g.set(a + "rope.scaling.factor", F32, 4.0),
                                g.set(a + "rope.scaling.original_context_length", t, v)),
           "original_context_length")
    hp("arch_empty", lambda g: g.set("general.architecture", STR, b""), "architecture")
    hp("arch_nul", lambda g: g.set("general.architecture", STR, b"llama\0evil"), "NUL")
    hp("arch_escape", lambda g: g.set("general.architecture", STR, b"\x1b[2Jllama"),
       "\\x1b[2Jllama")
    hp("arch_unknown", lambda g: g.set("general.architecture", STR, b"mamba9"), "mamba9")
    hp("arch_1MB", lambda g: g.set("general.architecture", STR, b"a" * (1 << 20)),
       "unsupported architecture")
    hp("arch_not_string", lambda g: g.set("general.architecture", U32, 5), "general.architecture")
    hp("tensor_missing",
       lambda g: setattr(g, "tensors", [t for t in g.tensors if t[0] != b"blk.1.ffn_up.weight"]),
       "blk.1.ffn_up.weight")
    hp("tensor_transposed",
       lambda g: [t.__setitem__(1, t[1][::-1]) for t in g.tensors if t[0] == b"blk.0.attn_k.weight"],
       "blk.0.attn_k.weight")
    hp("tensor_bad_layer_name",
       lambda g: g.tensors.append([b"blk.x.attn_k.weight", [4], 0, b"\0" * 16]), "layer")
    hp("tensor_layer_huge",
       lambda g: g.tensors.append([b"blk.99999999999999999999.attn_k.weight", [4], 0, b"\0" * 16]),
       "blk.")

    # Tokenizer metadata in the GGUF.
    def tk(name, edit, expect):
        hp(name, edit, expect, surface="gguf tokenizer")

    if Gguf(base_path).get(b"tokenizer.ggml.tokens") is not None:
        n_tok = len(Gguf(base_path).get(b"tokenizer.ggml.tokens")[1])
        tk("bos_out_of_range", lambda g: g.set("tokenizer.ggml.bos_token_id", U32, 10**9),
           "bos")
        tk("tokens_not_strings", lambda g: g.set("tokenizer.ggml.tokens", ARR, (U32, [1, 2])),
           "tokenizer.ggml.tokens")
        tk("tokens_empty", lambda g: g.set("tokenizer.ggml.tokens", ARR, (STR, [])),
           "tokenizer.ggml.tokens")
        tk("token_type_99",
           lambda g: g.set("tokenizer.ggml.token_type", ARR, (I32, [99] * n_tok)), "token_type")
        tk("token_type_negative",
           lambda g: g.set("tokenizer.ggml.token_type", ARR, (I32, [-5] * n_tok)), "token_type")
        tk("token_type_short",
           lambda g: g.set("tokenizer.ggml.token_type", ARR, (I32, [1])), "token_type")
        tk("merges_malformed",
           lambda g: g.set("tokenizer.ggml.merges", ARR, (STR, [b"onlyone", b"a b c"])), "merge")
        tk("model_unknown", lambda g: g.set("tokenizer.ggml.model", STR, b"evil"), "evil")
        tk("vocab_larger_than_embedding",
           lambda g: g.set("tokenizer.ggml.tokens", ARR,
                           (STR, g.get(b"tokenizer.ggml.tokens")[1] + [b"extra%d" % i for i in range(5000)])),
           "vocab")
        # Round two: ids outside int32 (they were taken as "none"), NaN scores, mistyped flags,
        # a vocabulary without the byte symbols the prompt needs, control tokens that repeat the
        # prompt for a thousand bytes.
        tk("bos_id_i32_negative", lambda g: g.set("tokenizer.ggml.bos_token_id", I32, -5),
           "tokenizer.ggml.bos_token_id = -5")
        tk("eos_id_u64_huge", lambda g: g.set("tokenizer.ggml.eos_token_id", U64, 2**40),
           "tokenizer.ggml.eos_token_id")
        tk("eot_id_i64_min", lambda g: g.set("tokenizer.ggml.eot_token_id", I64, -2**63),
           "tokenizer.ggml.eot_token_id")
        tk("scores_nan", lambda g: g.set("tokenizer.ggml.scores", ARR,
                                         (F32, [float("nan")] * n_tok)), "tokenizer.ggml.scores")
        tk("scores_short", lambda g: g.set("tokenizer.ggml.scores", ARR, (F32, [0.0])),
           "scores")
        tk("add_bos_string", lambda g: g.set("tokenizer.ggml.add_bos_token", STR, b"yes"),
           "tokenizer.ggml.add_bos_token")
        tk("pre_unknown", lambda g: g.set("tokenizer.ggml.pre", STR, b"evil-pre"), "evil-pre")
        tk("pre_not_string", lambda g: g.set("tokenizer.ggml.pre", U32, 3), "tokenizer.ggml.pre")
        tk("token_type_u8_array", lambda g: g.set("tokenizer.ggml.token_type", ARR,
                                                  (STR, [b"1"] * n_tok)), "token_type")
        tk("byte_symbols_missing",
           lambda g: g.set("tokenizer.ggml.tokens", ARR,
                           (STR, [b"x%d" % i if i < 256 else t
                                  for i, t in enumerate(g.get(b"tokenizer.ggml.tokens")[1])])),
           "")

    # Chat templates that attack the renderer: the reply must still come (with the fallback
    # format and a warning), quickly.
    def tmpl(name, text):
        g = Gguf(base_path)
        g.set("tokenizer.chat_template", STR, text.encode())
        p = write(name, g.bytes())
        cases.append(Case("gguf chat template", name,
                          ["run", "-m", p, "-p", "hi", "-n", "2", "--chat"],
                          check=lambda rc, o, e: None if rc == 0 and "template" in e.lower()
                          else f"exit {rc}, stderr {e[-300:]!r}"))

    tmpl("ternary_chain_100k", "{{ " + "x if c else " * 100000 + "x }}")
    tmpl("parens_100k", "{{ " + "(" * 100000 + "1" + ")" * 100000 + " }}")
    tmpl("not_chain_100k", "{{ " + "not " * 100000 + "x }}")
    tmpl("if_nesting_10k", "{% if 1 %}" * 10000 + "x" + "{% endif %}" * 10000)
    tmpl("macro_exponential",
         "{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}")
    tmpl("list_doubling", "{% set ns = namespace(a=[1]) %}{% for i in range(40) %}"
         "{% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ ns.a | tojson }}")
    tmpl("string_doubling", "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
         "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}")
    tmpl("ljust_huge", "{{ 'x' | ljust(10**12) }}")
    tmpl("center_huge", "{{ 'x' | center(2**40) }}")
    tmpl("list_append_loop", "{% set ns = namespace(a=[]) %}{% for i in range(100000) %}"
         "{% set ns.a = ns.a + [i] %}{% endfor %}{{ ns.a | length }}")
    tmpl("range_huge", "{% for i in range(10**18) %}{% endfor %}")
    tmpl("int_overflow", "{{ '99999999999999999999' | int }}{{ 9223372036854775807 + 1 }}")
    tmpl("break_outside_loop", "{% break %}")
    tmpl("unterminated", "{% for m in messages %}{{ m.content")
    tmpl("template_10MB", "x" * (10 << 20))
    return cases


def hf_cases(tmp):
    cases = []
    src = os.path.join(FIX, "hf", "tiny_llama")
    cfg0 = json.load(open(os.path.join(src, "config.json")))

    def folder(name, config_text=None, st_bytes=None):
        d = os.path.join(tmp, "hf_" + name)
        shutil.copytree(src, d)
        if config_text is not None:
            with open(os.path.join(d, "config.json"), "w") as fh:
                fh.write(config_text)
        if st_bytes is not None:
            with open(os.path.join(d, "model.safetensors"), "wb") as fh:
                fh.write(st_bytes)
        return d

    def conf(name, text, expect, ok=False):
        # inspect shows what it can of a checkpoint that cannot run, and says why: that is an
        # error outcome too.
        d = folder(name, config_text=text)

        def check(rc, out, err):
            if ok:
                return None if rc == 0 and "runnable:        no:" not in out else \
                    f"a legal config.json was refused: {(err or out)[-300:]}"
            if rc != 0:
                return None if expect in err else f"expected {expect!r} in: {err[-300:]}"
            m = out.find("runnable:        no:")
            if m < 0:
                return "silent: shown as runnable"
            line = out[m:out.find("\n", m)]
            return None if expect in line else f"expected {expect!r} in: {line}"
        cases.append(Case("hf config.json", name, ["inspect", d], check=check))

    def edited(name, key, value, expect, ok=False):
        c = dict(cfg0)
        c[key] = value
        conf(name, json.dumps(c), expect, ok=ok)

    conf("empty", "", "config.json")
    conf("array", "[]", "config.json")
    conf("nested_100k", "[" * 100000 + "]" * 100000, "config.json")
    conf("whitespace_10MB", " " * (10 << 20) + "{}", "config.json")
    conf("not_utf8", "{\"model_type\": \"\xff\"}", "config.json")
    conf("truncated", json.dumps(cfg0)[:-10], "config.json")
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
                "intermediate_size", "max_position_embeddings"):
        for v in (0, -1, 2**40, 1.5, "12", None, float("nan")):
            txt = json.dumps(v) if not (isinstance(v, float) and v != v) else "NaN"
            c = json.dumps(cfg0)
            c = c.replace(f'"{key}": {json.dumps(cfg0.get(key))}', f'"{key}": {txt}')
            if f'"{key}"' not in c:
                continue
            conf(f"{key}_{v}", c, key)
    # The fixture is a transformers 5 config: rope settings live in rope_parameters (which wins
    # over a top-level rope_theta, as in transformers), the class in "architectures".
    edited("rope_theta_inf", "rope_parameters", {"rope_theta": 1e400, "rope_type": "default"},
           "rope_theta")
    edited("rope_theta_negative", "rope_parameters", {"rope_theta": -5, "rope_type": "default"},
           "rope_theta")
    edited("rope_theta_string", "rope_parameters", {"rope_theta": "1e4", "rope_type": "default"},
           "rope_theta")
    edited("rope_type_unknown", "rope_parameters", {"rope_theta": 1e4, "rope_type": "evil"},
           "evil")
    edited("rope_yarn_factor_string", "rope_parameters",
           {"rope_theta": 1e4, "rope_type": "yarn", "factor": "big"}, "factor")
    edited("rope_yarn_factor_nan", "rope_parameters",
           {"rope_theta": 1e4, "rope_type": "yarn", "factor": -1}, "factor")
    edited("rope_parameters_list", "rope_parameters", [1, 2], "rope_parameters")
    edited("architectures_unknown", "architectures", ["MambaForCausalLM"], "MambaForCausalLM")
    edited("architectures_junk", "architectures", [[["x"]]], "architectures")
    # Round two: floats past float range (an undefined narrowing to F32), values the rope
    # formulas divide by, wrong kinds, duplicates and junk.
    rp = cfg0.get("rope_parameters") or {"rope_theta": 1e4, "rope_type": "default"}
    edited("rope_theta_1e39", "rope_parameters", dict(rp, rope_theta=1e39), "rope_theta")
    edited("rope_theta_1e13", "rope_parameters", dict(rp, rope_theta=1e13), "rope_theta")
    yarn = {"rope_theta": 1e4, "rope_type": "yarn", "factor": 4.0,
            "original_max_position_embeddings": 64}
    edited("yarn_beta_fast_1e300", "rope_parameters", dict(yarn, beta_fast=1e300), "beta_fast")
    edited("yarn_beta_slow_above_fast", "rope_parameters", dict(yarn, beta_fast=2, beta_slow=8),
           "beta_slow")
    edited("yarn_attention_factor_negative", "rope_parameters",
           dict(yarn, attention_factor=-1), "attention_factor")
    edited("yarn_attention_factor_1e39", "rope_parameters",
           dict(yarn, attention_factor=1e39), "attention_factor")
    edited("yarn_original_ctx_0", "rope_parameters",
           dict(yarn, original_max_position_embeddings=0), "original_max_position_embeddings")
    edited("yarn_factor_1e39", "rope_parameters", dict(yarn, factor=1e39), "factor")
    l3 = {"rope_theta": 1e4, "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
          "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
    edited("llama3_low_freq_0", "rope_parameters", dict(l3, low_freq_factor=0), "low_freq_factor")
    edited("llama3_high_equals_low", "rope_parameters", dict(l3, high_freq_factor=1.0),
           "high_freq_factor")
    edited("llama3_original_ctx_1e30", "rope_parameters",
           dict(l3, original_max_position_embeddings=1e30), "original_max_position_embeddings")
    edited("llama3_missing_high", "rope_parameters",
           {k: v for k, v in l3.items() if k != "high_freq_factor"}, "high_freq_factor")
    edited("rope_type_null", "rope_parameters", {"rope_theta": 1e4, "rope_type": None}, "", ok=True)
    edited("partial_rotary_1e300", "partial_rotary_factor", 1e300, "partial_rotary_factor")
    edited("partial_rotary_negative", "partial_rotary_factor", -0.5, "partial_rotary_factor")
    edited("kv_heads_0", "num_key_value_heads", 0, "num_key_value_heads")
    edited("kv_heads_not_divisor", "num_key_value_heads", 3, "num_key_value_heads")
    edited("kv_heads_2^40", "num_key_value_heads", 2**40, "num_key_value_heads")
    edited("head_dim_0", "head_dim", 0, "head_dim")
    edited("head_dim_1e6", "head_dim", 10**6, "head_dim")
    edited("head_dim_float", "head_dim", 16.5, "head_dim")
    edited("tie_embeddings_string", "tie_word_embeddings", "true", "tie_word_embeddings")
    edited("rms_eps_1e300", "rms_norm_eps", 1e300, "rms_norm_eps")
    edited("architectures_string", "architectures", "LlamaForCausalLM", "architectures")
    edited("nested_junk_60", "quantization_config", json.loads("[" * 60 + "]" * 60), "",
           ok=True)
    c = json.dumps(cfg0)
    conf("duplicate_hidden_size", c[:-1] + ', "hidden_size": 99999}', "duplicate")
    conf("bom_prefix", "\ufeff" + c, "config.json")
    conf("whitespace_17MB", " " * (17 << 20) + c, "config.json")
    conf("values_1M_in_junk", c[:-1] + ', "junk": [' + ",".join(["[]"] * (1 << 20)) + "]}", "",
         ok=True)
    conf("size_5MB", c[:-1] + ', "junk": "' + "x" * (5 << 20) + '"}', "config.json")
    conf("int_2^64", c.replace('"vocab_size": ', '"vocab_size": 18446744073709551616 , "x": '),
         "vocab_size")

    # Safetensors.
    st = open(os.path.join(src, "model.safetensors"), "rb").read()
    hlen = struct.unpack_from("<Q", st, 0)[0]
    header = json.loads(st[8:8 + hlen])

    def stf(name, data, expect):
        d = folder("st_" + name, st_bytes=data)
        cases.append(Case("hf safetensors", name, ["convert", d, os.path.join(tmp, name + ".gguf")],
                          expect))

    def with_header(h):
        hb = json.dumps(h).encode()
        hb += b" " * (-len(hb) % 8)
        return struct.pack("<Q", len(hb)) + hb + st[8 + hlen:]

    for n in (2**63, 2**40, 0, 3):
        stf(f"header_len_{n}", struct.pack("<Q", n) + st[8:], "safetensors")
    stf("header_not_json", struct.pack("<Q", 16) + b"not json at all!" + st[8 + hlen:],
        "safetensors")
    first = next(k for k in header if k != "__metadata__")
    for what, val in (("offsets_past_end", [0, 10**12]), ("offsets_reversed", [64, 0]),
                      ("offsets_negative", [-8, 8]), ("offsets_overlap", None)):
        h = json.loads(json.dumps(header))
        if val is None:
            keys = [k for k in h if k != "__metadata__"]
            h[keys[1]]["data_offsets"] = h[keys[0]]["data_offsets"]
        else:
            h[first]["data_offsets"] = val
        stf(what, with_header(h), "")
    for what, shape in (("shape_negative", [-1, 4]), ("shape_overflow", [2**62, 2**62]),
                        ("shape_string", ["a"])):
        h = json.loads(json.dumps(header))
        h[first]["shape"] = shape
        stf(what, with_header(h), "")
    h = json.loads(json.dumps(header))
    h[first]["dtype"] = "EVIL"
    stf("dtype_unknown", with_header(h), "EVIL")
    stf("truncated", st[:len(st) // 2], "")
    return cases

def byte_symbols():
    """GPT-2's byte-to-unicode table: printable bytes stand for themselves, the rest shift up."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    out, n = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + n)
            n += 1
    return out


def tokenizer_cases(tmp):
    """tokenizer.json and tokenizer_config.json of a small byte-level BPE, one defect each."""
    cases = []
    sym = byte_symbols()
    vocab = {sym[b]: b for b in range(256)}
    vocab["ab"] = 256
    vocab["\u0120a"] = 257  # " a" in byte symbols
    base = {
        "version": "1.0",
        "added_tokens": [{"id": 258, "content": "<|end|>", "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "vocab": vocab,
                  "merges": ["a b", "\u0120 a"]},
    }
    n = [0]

    def case(name, doc=None, config=None, text="hello ab a<|end|>", expect="", ok=False,
             raw=None, either=False):
        n[0] += 1
        d = os.path.join(tmp, f"tok_{n[0]}")
        os.mkdir(d)
        with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8", errors="surrogatepass") as fh:
            fh.write(raw if raw is not None else json.dumps(doc if doc is not None else base))
        if config is not None:
            with open(os.path.join(d, "tokenizer_config.json"), "w") as fh:
                fh.write(config if isinstance(config, str) else json.dumps(config))
        # either: a load or an error naming the tokenizer is right (PCRE2 decides what compiles).
        check = (lambda rc, o, e: None if rc == 0 or "tokenizer" in e
                 else f"exit {rc} without naming the tokenizer: {e[-300:]}") if either else None
        cases.append(Case("hf tokenizer.json", name, ["tokenize", "-m", d, "-p", text], expect,
                          ok=ok, check=check))

    def edited(name, path, value, expect, text="hello ab a<|end|>", ok=False, either=False):
        doc = json.loads(json.dumps(base))
        obj = doc
        for k in path[:-1]:
            obj = obj[k]
        if value is KeyError:
            del obj[path[-1]]
        else:
            obj[path[-1]] = value
        case(name, doc, expect=expect, text=text, ok=ok, either=either)

    case("valid", ok=True)
    case("truncated", raw=json.dumps(base)[:500], expect="tokenizer.json")
    case("empty", raw="", expect="tokenizer.json")
    case("not_object", raw="[1, 2]", expect="tokenizer.json")
    case("nested_100k", raw="[" * 100000 + "]" * 100000, expect="tokenizer.json")
    case("whitespace_50MB", raw=" " * (50 << 20) + "{}", expect="tokenizer.json")
    edited("model_missing", ["model"], KeyError, "model")
    edited("model_type_unigram", ["model", "type"], "Unigram", "Unigram")
    edited("vocab_not_object", ["model", "vocab"], [1, 2], "model.vocab")
    edited("vocab_id_negative", ["model", "vocab", "ab"], -1, "out of range")
    edited("vocab_id_huge", ["model", "vocab", "ab"], 2**40, "out of range")
    edited("vocab_id_float", ["model", "vocab", "ab"], 1.5, "integer")
    edited("vocab_id_duplicate", ["model", "vocab", "ab"], 5, "also given")
    edited("vocab_ids_implausible", ["model", "vocab", "ab"], 100_000_000, "")
    edited("merges_not_list", ["model", "merges"], "a b", "model.merges")
    edited("merge_one_part", ["model", "merges"], ["ab"], "not two tokens")
    edited("merge_unknown_part", ["model", "merges"], ["a zz"], "zz")
    edited("merge_pair_of_three", ["model", "merges"], [["a", "b", "c"]], "pair")
    edited("merge_pair_numbers", ["model", "merges"], [[1, 2]], "string")
    edited("unk_not_in_vocab", ["model", "unk_token"], "<unk>", "unk_token")
    edited("dropout", ["model", "dropout"], 0.1, "dropout")
    edited("added_id_negative", ["added_tokens"], [{"id": -3, "content": "x", "special": True}],
           "id")
    edited("added_id_huge", ["added_tokens"], [{"id": 2**31, "content": "x", "special": True}],
           "")
    edited("added_empty", ["added_tokens"], [{"id": 258, "content": "", "special": True}],
           "empty")
    edited("added_collides", ["added_tokens"], [{"id": 3, "content": "<x>", "special": True}],
           "in model.vocab")
    edited("added_lstrip", ["added_tokens"],
           [{"id": 258, "content": "<|end|>", "special": True, "lstrip": True}], "lstrip")
    edited("normalizer_unknown", ["normalizer"], {"type": "Lowercase"}, "Lowercase")
    edited("pre_missing_bytelevel", ["pre_tokenizer"], None, "ByteLevel")
    edited("decoder_unknown", ["decoder"], {"type": "WordPiece"}, "decoder")
    edited("split_regex_invalid", ["pre_tokenizer"],
           {"type": "Sequence", "pretokenizers": [
               {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated",
                "invert": False},
               {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]},
           "does not compile")
    edited("split_regex_catastrophic", ["pre_tokenizer"],
           {"type": "Sequence", "pretokenizers": [
               {"type": "Split", "pattern": {"Regex": "(a+)+c|."}, "behavior": "Isolated",
                "invert": False},
               {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]},
           "work budget", text=("a" * 20 + "b") * 2200)
    edited("split_regex_exponential_nested", ["pre_tokenizer"],
           {"type": "Sequence", "pretokenizers": [
               {"type": "Split", "pattern": {"Regex": "((a|a)*)*c|."}, "behavior": "Isolated",
                "invert": False},
               {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]},
           "", text=("a" * 25 + "b") * 2000)
    edited("byte_missing", ["model", "vocab"],
           {k: v for k, v in vocab.items() if k != sym[ord("z")]}, "0x7A",
           text="zebra")
    for flag, val in (("add_bos_token", "yes"), ("add_eos_token", 1)):
        case(f"config_{flag}_{val}", config={flag: val}, expect=flag)
    case("config_bos_unknown", config={"bos_token": "<nope>", "tokenizer_class": "LlamaTokenizerFast"},
         expect="<nope>")
    case("config_not_json", config="{oops", expect="tokenizer_config.json")
    case("config_template_number", config={"chat_template": 5}, expect="chat_template")
    case("config_template_list_junk", config={"chat_template": [{"name": 1}]}, expect="chat_template")
    case("text_invalid_utf8", text="abc\udcff", ok=True)

    # Round two: work on hostile vocabularies is bounded, structure is checked by name.
    def pre_seq(*steps):
        return {"type": "Sequence", "pretokenizers": list(steps) + [
            {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}

    def split(pattern, kind="Regex", **extra):
        return dict({"type": "Split", "pattern": {kind: pattern}, "behavior": "Isolated",
                     "invert": False}, **extra)

    lt = "<" * 46000
    edited("vocab_sparse_16M", ["model", "vocab", "ab"], 15_999_999, "ids run up to")
    edited("split_steps_5000", ["pre_tokenizer"], pre_seq(*[split("(a+)+c|.")] * 5000),
           "at most 32", text=lt)
    edited("split_steps_32_ok", ["pre_tokenizer"], pre_seq(*[split("x", "String")] * 32), "",
           text="hello " * 8000, ok=True)
    edited("split_regex_catastrophic_1MB_arg", ["pre_tokenizer"], pre_seq(split("(a+)+c|.")),
           "work budget", text=("a" * 24 + "b") * 4000)
    edited("split_regex_nested_quantifier", ["pre_tokenizer"], pre_seq(split("(\\w+\\s?)+$")),
           "work budget", text=("word " * 9000) + "!", either=True)
    edited("split_regex_backref_bomb", ["pre_tokenizer"], pre_seq(split("(a*)*\\1b|.")),
           "", text="a" * 40000, either=True)
    edited("split_regex_lookbehind_K", ["pre_tokenizer"], pre_seq(split("(?<=\\Ka)b")),
           "pre_tokenizer.pretokenizers[0].pattern.Regex")
    edited("split_regex_unknown_property", ["pre_tokenizer"], pre_seq(split("\\p{Klingon}")),
           "does not compile")
    edited("split_regex_repeat_huge", ["pre_tokenizer"], pre_seq(split("(a{65535}){65535}")), "",
           either=True)
    edited("split_regex_empty_matches", ["pre_tokenizer"], pre_seq(split("(?=a)|")), "",
           text="aaaa b " * 5000, ok=True)
    edited("split_string_1MB", ["pre_tokenizer"], pre_seq(split("x" * (1 << 20), "String")), "",
           text="x" * 1000, either=True)
    edited("split_pattern_neither", ["pre_tokenizer"],
           pre_seq({"type": "Split", "pattern": {}, "behavior": "Isolated", "invert": False}),
           "pattern")
    edited("split_behavior_number", ["pre_tokenizer"], pre_seq(split("a", behavior=3)),
           "behavior")
    edited("split_invert_true", ["pre_tokenizer"], pre_seq(split("a", invert=True)), "invert")
    edited("digits_flag_string", ["pre_tokenizer"],
           pre_seq({"type": "Digits", "individual_digits": "yes"}), "individual_digits")
    edited("bytelevel_prefix_space", ["pre_tokenizer"],
           {"type": "ByteLevel", "add_prefix_space": True, "use_regex": True}, "add_prefix_space")
    edited("bytelevel_use_regex_string", ["pre_tokenizer"],
           {"type": "ByteLevel", "add_prefix_space": False, "use_regex": "no"}, "use_regex")
    edited("normalizer_nfc_10k", ["normalizer"],
           {"type": "Sequence", "normalizers": [{"type": "NFC"}] * 10000}, "", text="cafe\u0301",
           ok=True)
    added_many = [{"id": 259 + i, "content": "<x%d>" % i, "special": False}
                  for i in range(200000)]
    edited("added_200k_same_first_byte", ["added_tokens"], added_many, "", text=lt, ok=True)
    added_long = [{"id": 259 + i, "content": "<" * (1000 + i) + "x", "special": False}
                  for i in range(50)]
    edited("added_repeat_prompt_1000", ["added_tokens"], added_long, "special tokens", text=lt)
    edited("added_special_string", ["added_tokens"],
           [{"id": 258, "content": "<|end|>", "special": "yes"}], "special")
    edited("added_id_float", ["added_tokens"],
           [{"id": 258.5, "content": "<|end|>", "special": True}], "integer")
    edited("added_same_content_twice", ["added_tokens"],
           [{"id": 258, "content": "<|end|>", "special": True},
            {"id": 259, "content": "<|end|>", "special": False}], "", ok=True)
    edited("ignore_merges_string", ["model", "ignore_merges"], "yes", "ignore_merges")
    edited("continuing_prefix", ["model", "continuing_subword_prefix"], "##",
           "continuing_subword_prefix")
    edited("merge_parts_with_space", ["model", "merges"], [[" a", "b"]], "space")
    edited("merge_empty_string", ["model", "merges"], [""], "not two tokens")
    edited("merges_200k_duplicates", ["model", "merges"], ["a b"] * 200000, "", ok=True)
    edited("byte_space_missing", ["model"],
           dict(base["model"], merges=["a b"],
                vocab={k: v for k, v in vocab.items() if k != sym[ord(" ")]}), "0x20", text="a b")
    edited("byte_missing_with_unk", ["model"],
           dict(base["model"], unk_token="ab",
                vocab={k: v for k, v in vocab.items() if k != sym[ord("z")]}), "", text="zebra",
           ok=True)
    edited("post_two_bos", ["post_processor"],
           {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|end|>"}},
                                                     {"SpecialToken": {"id": "<|end|>"}},
                                                     {"Sequence": {"id": "A"}}]},
           "more than one")
    edited("post_unknown_token", ["post_processor"],
           {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<nope>"}},
                                                     {"Sequence": {"id": "A"}}]}, "<nope>")
    edited("post_type_unknown", ["post_processor"], {"type": "RobertaProcessing"},
           "RobertaProcessing")
    edited("decoder_missing", ["decoder"], KeyError, "decoder")
    case("config_add_bos_yes_llama", config={"add_bos_token": "yes",
                                             "tokenizer_class": "LlamaTokenizerFast"},
         expect="add_bos_token")
    case("config_bos_content_number", config={"bos_token": {"content": 5}}, expect="bos_token")
    case("config_bos_number", config={"bos_token": 5}, expect="bos_token")
    case("config_class_number", config={"tokenizer_class": 7}, expect="tokenizer_class")
    case("config_template_20MB", config={"chat_template": "x" * (20 << 20)},
         expect="tokenizer_config.json")
    case("config_template_8MB", config={"chat_template": "x" * (8 << 20)}, ok=True)
    case("config_values_5M", config="[" + ",".join(["{}"] * (5 << 20)) + "]",
         expect="JSON values")
    case("values_9M", raw="[" + ",".join(["[]"] * (9 << 20)) + "]", expect="JSON values")
    case("config_template_list_no_default", config={"chat_template": [{"name": "tool_use",
                                                                        "template": "T"}]},
         ok=True)
    case("config_eos_unused_id", config={"eos_token": "<|nothing|>"}, expect="<|nothing|>")
    case("config_nested_junk", config={"x": json.loads("[" * 60 + "]" * 60)}, ok=True)
    return cases


def file_cases(tmp):
    cases = []
    fifo = os.path.join(tmp, "fifo.gguf")
    os.mkfifo(fifo)
    loop = os.path.join(tmp, "loop.gguf")
    os.symlink(loop, loop)
    to_fifo = os.path.join(tmp, "to_fifo.gguf")
    os.symlink(fifo, to_fifo)
    empty = os.path.join(tmp, "empty.gguf")
    open(empty, "w").close()
    d = os.path.join(tmp, "adir.gguf")
    os.mkdir(d)
    hf_fifo = os.path.join(tmp, "hf_fifo")
    os.mkdir(hf_fifo)
    os.mkfifo(os.path.join(hf_fifo, "config.json"))
    tiny = os.path.join(FIX, "tiny_llama.gguf")
    for name, args, expect in (
            ("fifo_model", ["run", "-m", fifo, "-p", "x"], "named pipe"),
            ("fifo_inspect", ["inspect", fifo], "named pipe"),
            ("symlink_to_fifo", ["inspect", to_fifo], "named pipe"),
            ("symlink_loop", ["inspect", loop], "loop.gguf"),
            ("empty_file", ["run", "-m", empty, "-p", "x"], "empty.gguf"),
            ("directory_model", ["run", "-m", d, "-p", "x"], "adir.gguf"),
            ("dev_zero", ["inspect", "/dev/zero"], "character device"),
            ("dev_null", ["run", "-m", "/dev/null", "-p", "x"], "character device"),
            ("hf_config_fifo", ["inspect", hf_fifo], "named pipe"),
            ("tokenize_fifo_text", ["tokenize", "-m", tiny, "-f", fifo], "named pipe"),
            ("convert_metadata_fifo", ["convert", os.path.join(FIX, "hf", "tiny_llama"),
                                       os.path.join(tmp, "m.gguf"), "--metadata", fifo],
             "named pipe"),
            ("trace_to_directory", ["run", "-m", tiny, "-p", "x", "-n", "1", "--trace", d], ""),
            ("trace_to_dev_full", ["run", "-m", tiny, "-p", "x", "-n", "2", "--trace",
                                   "/dev/full"], "")):
        cases.append(Case("non-regular files", name, args, expect))
    return cases


def arg_cases(tmp):
    tiny = os.path.join(FIX, "tiny_llama.gguf")
    base = ["run", "-m", tiny, "-p", "x"]
    cases = []
    for name, extra, expect in (
            ("n_2^32", ["-n", "4294967296"], "-n"), ("n_negative", ["-n", "-1"], "-n"),
            ("n_huge", ["-n", "99999999999999999999999"], "-n"), ("n_text", ["-n", "ten"], "-n"),
            ("n_empty", ["-n", ""], "-n"), ("n_hex", ["-n", "0x10"], "-n"),
            ("n_trailing", ["-n", "10abc"], "-n"),
            ("topk_2^32", ["--top-k", "4294967296"], "--top-k"),
            ("topk_negative", ["--top-k", "-5"], "--top-k"),
            ("topn_1000", ["--top-n", "1000"], "--top-n"),
            ("temp_nan", ["--temp", "nan"], "temp"), ("temp_inf", ["--temp", "inf"], "temp"),
            ("temp_negative", ["--temp", "-1"], "temp"), ("top_p_2", ["--top-p", "2"], "top_p"),
            ("min_p_negative", ["--min-p", "-0.5"], "min_p"),
            ("repeat_penalty_0", ["--repeat-penalty", "0"], "repeat"),
            ("repeat_last_n_-2", ["--repeat-last-n", "-2"], "--repeat-last-n"),
            ("presence_9", ["--presence-penalty", "9"], "presence"),
            ("seed_negative", ["--seed", "-1"], "--seed"),
            ("seed_2^64", ["--seed", "18446744073709551616"], "--seed"),
            ("threads_1024", ["-t", "1024"], "threads"), ("threads_negative", ["-t", "-1"], "threads"),
            ("threads_2^31", ["-t", "2147483648"], "threads"),
            ("ctx_1", ["-c", "1"], "context"), ("ctx_2^40", ["-c", "1099511627776"], ""),
            ("ctx_negative", ["-c", "-5"], "-c"), ("batch_0", ["-b", "0"], "-b"),
            ("cpu_layers_huge", ["--cpu-layers", "99999999999999999999"], "--cpu-layers"),
            ("backend_evil", ["--backend", "evil"], "evil"),
            ("unknown_flag", ["--evil"], "--evil"),
            ("flag_without_value", ["-n"], "-n"),
            ("prompt_missing", None, "prompt")):
        args = (base + extra) if extra is not None else ["run", "-m", tiny]
        cases.append(Case("command line", name, args, expect))
    for name, args, expect in (
            ("bench_p_0", ["bench", "-m", tiny, "-p", "0"], "-p"),
            ("bench_r_2^32", ["bench", "-m", tiny, "-r", "4294967297"], "-r"),
            ("bench_n_huge", ["bench", "-m", tiny, "-n", "999999999999"], "-n"),
            ("tokenize_bench_huge", ["tokenize", "-m", tiny, "-p", "x", "--bench", "99999999999"],
             "--bench"),
            ("tokenize_nothing", ["tokenize", "-m", tiny], ""),
            ("convert_bad_type", ["convert", os.path.join(FIX, "hf", "tiny_llama"),
                                  os.path.join(tmp, "c.gguf"), "--type", "q2_evil"], "q2_evil"),
            ("command_escape", ["\x1b[2Jevil"], "unknown command"),
            ("inspect_two_files", ["inspect", tiny, tiny], "exactly one")):
        cases.append(Case("command line", name, args, expect))
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", default=os.path.join(ROOT, "build", "app", "glassbox-cli"))
    ap.add_argument("--only", default="")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--mem-mb", type=float, default=1024.0)
    ap.add_argument("-v", action="store_true", help="print every case")
    a = ap.parse_args()
    if not os.access(a.cli, os.X_OK):
        sys.exit(f"hostile_inputs: no glassbox-cli at {a.cli} (build first, or pass --cli)")
    tmp = tempfile.mkdtemp(prefix="gb_hostile_")
    try:
        cases = (gguf_cases(tmp) + hf_cases(tmp) + tokenizer_cases(tmp) + file_cases(tmp) +
                 arg_cases(tmp))
        cases = [c for c in cases if a.only in c.surface + "/" + c.name]
        per = {}
        slowest = (0.0, "")
        bad = 0
        for c in cases:
            verdict, why, peak, dt = run_case(a.cli, c, tmp, a.timeout, a.mem_mb)
            s = per.setdefault(c.surface, {"cases": 0, "peak_mb": 0.0})
            s["cases"] += 1
            s[verdict] = s.get(verdict, 0) + 1
            s["peak_mb"] = max(s["peak_mb"], peak)
            if dt > slowest[0]:
                slowest = (dt, c.surface + "/" + c.name)
            if verdict != "pass":
                bad += 1
            if verdict != "pass" or a.v:
                print(f"{verdict:8s} {c.surface}/{c.name} ({dt:.2f}s) {why}", flush=True)
        print("\nsurface                     cases  pass  crash  hang  memory  silent  message  peak MB")
        for surface, s in per.items():
            print(f"{surface:26s} {s['cases']:6d} {s.get('pass', 0):5d} {s.get('crash', 0):6d} "
                  f"{s.get('hang', 0):5d} {s.get('memory', 0):7d} {s.get('silent', 0):7d} "
                  f"{s.get('message', 0):8d} {s['peak_mb']:8.0f}")
        peak = max((s["peak_mb"] for s in per.values()), default=0)
        print(f"total {len(cases)} cases, {bad} not passing; slowest {slowest[0]:.2f}s "
              f"({slowest[1]}); peak RSS of any case {peak:.0f} MB")
        return 1 if bad else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
