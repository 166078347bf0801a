#!/usr/bin/env python3
"""Writes tests/fixtures/quant/<TYPE>.bin: golden data for the CPU quant kernels, made by the
independent gguf Python package (gguf.quants), never by Glassbox itself.

Usage: ${GB_PYTHON:-python3} tools/gen_quant_fixtures.py [out_dir]   (needs numpy and gguf)

Per type, a list of cases (n elements per row, several rows). A case holds, little-endian:
    u32 n, u32 rows, u32 has_src
    f32 src[rows*n]            only if has_src: the floats gguf quantised into raw
    u8  raw[rows*row_bytes]    the blocks (gguf-quantised, or random bits for types gguf cannot
                               quantise, e.g. the K formats)
    f32 deq[rows*n]            gguf.quants.dequantize(raw)
    f32 x[n]                   an activation vector
    f64 dot[rows]              float64 dot of deq rows with x: the reference for vec_dot
after a header: b"GBQ1", u32 GGUF type id, u32 number of cases.
Inputs are deterministic (fixed seeds) and include odd sizes, tiny (1e-30) and huge (6e4)
scales, all-zero and constant blocks and outliers.
"""
import os
import struct
import sys

import numpy as np
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as T
from gguf import quants

QUANTISABLE = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]
RANDOM_BITS = [T.Q4_K, T.Q5_K, T.Q6_K]


def f16_bytes(values):
    return np.asarray(values, dtype=np.float16).view(np.uint8)


def special_rows(rng, rows, n):
    """Rows that stress the scale logic: tiny, huge, zero, constant, outlier, mixed blocks."""
    out = []
    for r in range(rows):
        kind = r % 7
        if kind == 0:
            v = rng.standard_normal(n) * 1e-30
        elif kind == 1:
            v = np.clip(rng.standard_normal(n) * 2e4, -6e4, 6e4)
            v[0] = 6e4
        elif kind == 2:
            v = np.zeros(n)
        elif kind == 3:
            v = np.full(n, 0.7)
        elif kind == 4:
            v = np.full(n, -3.0)
        elif kind == 5:
            v = rng.standard_normal(n) * 0.01
            v[n // 3] = 100.0
        else:  # a different magnitude in every block of 32
            v = rng.standard_normal(n) * np.repeat(10.0 ** rng.uniform(-4, 3, (n + 31) // 32), 32)[:n]
        out.append(v)
    return np.asarray(out, dtype=np.float32)


def activation(rng, n):
    x = rng.standard_normal(n).astype(np.float32)
    if n >= 64:
        x[32:64] = 0  # an all-zero activation block
    x[n // 2] = 25.0  # an outlier
    if n >= 512:
        x[256:512] *= 1e-3  # a whole quiet super-block
    return x


def block_bytes(qtype):
    return GGML_QUANT_SIZES[qtype][1]


def random_k_blocks(rng, qtype, rows, n, mode):
    """Random bit patterns with controlled fp16 scales: covers every code and scale path."""
    nb = n // 256
    bb = block_bytes(qtype)
    raw = rng.integers(0, 256, size=(rows, nb, bb), dtype=np.uint8)
    for r in range(rows):
        if mode == "normal":
            d = rng.uniform(1e-3, 5e-2, nb) * rng.choice([-1, 1], nb)
            dmin = rng.uniform(1e-3, 5e-2, nb)
        else:
            kind = r % 4
            if kind == 0:
                d, dmin = np.full(nb, 6e-8), np.full(nb, 1e-7)  # fp16 subnormals
            elif kind == 1:
                d, dmin = np.full(nb, 6e4), np.full(nb, 3e4)  # near fp16 max
            elif kind == 2:
                raw[r] = 0  # all-zero blocks
                continue
            else:
                d, dmin = np.zeros(nb), rng.uniform(1e-3, 1e-2, nb)  # only the min term
        if qtype == T.Q6_K:
            raw[r, :, bb - 2:] = f16_bytes(d).reshape(nb, 2)
        else:
            raw[r, :, 0:2] = f16_bytes(d).reshape(nb, 2)
            raw[r, :, 2:4] = f16_bytes(dmin).reshape(nb, 2)
    return raw.reshape(rows, nb * bb)


def random_legacy_blocks(rng, qtype, rows, n):
    """Random legacy blocks with random-signed normal fp16 scales (codes a quantiser rarely makes)."""
    nb = n // 32
    bb = block_bytes(qtype)
    raw = rng.integers(0, 256, size=(rows, nb, bb), dtype=np.uint8)
    d = rng.uniform(1e-3, 1.0, (rows, nb)) * rng.choice([-1, 1], (rows, nb))
    raw[:, :, 0:2] = f16_bytes(d).reshape(rows, nb, 2)
    if qtype in (T.Q4_1, T.Q5_1):
        raw[:, :, 2:4] = f16_bytes(rng.uniform(-1, 1, (rows, nb))).reshape(rows, nb, 2)
    return raw.reshape(rows, nb * bb)


def quantise(qtype, src):
    return np.ascontiguousarray(quants.quantize(src, qtype)).view(np.uint8).reshape(src.shape[0], -1)


def dequantise(qtype, raw):
    return np.asarray(quants.dequantize(raw, qtype), dtype=np.float32).reshape(raw.shape[0], -1)


def cases_for(qtype, rng):
    block = GGML_QUANT_SIZES[qtype][0]
    cases = []  # (src or None, raw)
    if qtype in QUANTISABLE:
        if block == 1:
            sizes = [(1, 2), (7, 3), (33, 7), (100, 2)]
        else:
            sizes = [(32, 3), (96, 7), (256, 3)]
        for n, rows in sizes:
            if rows == 7:
                src = special_rows(rng, rows, n)
            else:
                src = (rng.standard_normal((rows, n)) * rng.uniform(0.1, 3)).astype(np.float32)
            cases.append((src, quantise(qtype, src)))
        if block == 1 and qtype != T.F32:
            # Floats spread over the whole half-precision range: exercises rounding, subnormals.
            n = 64
            src = (rng.standard_normal((2, n)) * 2.0 ** rng.integers(-26, 14, (2, n))).astype(np.float32)
            cases.append((src, quantise(qtype, src)))
        if block == 32:
            raw = random_legacy_blocks(rng, qtype, 2, 64)
            if qtype == T.Q8_0:
                # Quantisers never emit -128; a file might, and the kernels must still be right.
                raw.reshape(2, -1, 34)[0, 0, 2] = 0x80
            cases.append((None, raw))
    else:
        cases.append((None, random_k_blocks(rng, qtype, 3, 256, "normal")))
        cases.append((None, random_k_blocks(rng, qtype, 4, 512, "special")))
        cases.append((None, random_k_blocks(rng, qtype, 2, 768, "normal")))
    return cases


def write_type(out_dir, qtype, seed):
    rng = np.random.default_rng(seed)
    cases = cases_for(qtype, rng)
    parts = [b"GBQ1", struct.pack("<II", int(qtype), len(cases))]
    for src, raw in cases:
        deq = dequantise(qtype, raw)
        rows, n = deq.shape
        x = activation(rng, n)
        dot = deq.astype(np.float64) @ x.astype(np.float64)
        parts.append(struct.pack("<III", n, rows, 0 if src is None else 1))
        if src is not None:
            parts.append(src.astype("<f4").tobytes())
        parts += [raw.tobytes(), deq.astype("<f4").tobytes(), x.astype("<f4").tobytes(),
                  dot.astype("<f8").tobytes()]
    path = os.path.join(out_dir, f"{qtype.name}.bin")
    with open(path, "wb") as f:
        f.write(b"".join(parts))
    return path


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "fixtures", "quant")
    os.makedirs(out_dir, exist_ok=True)
    for i, qtype in enumerate(QUANTISABLE + RANDOM_BITS):
        path = write_type(out_dir, qtype, seed=1000 + i)
        print(f"{path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
