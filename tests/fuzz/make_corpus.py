#!/usr/bin/env python3
"""Writes the tiny seed corpora of the GGUF and safetensors fuzzers into tests/fuzz/corpus/gguf/
and tests/fuzz/corpus/safetensors/.

The bytes are laid out here by hand with struct (GGUF as specified), so the seeds do not depend
on Glassbox's own writer (safetensors: an 8-byte little-endian header length, a JSON header, the
data). Usage: ${GB_PYTHON:-python3} tests/fuzz/make_corpus.py [out_dir]
"""
import json
import os
import struct
import sys

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
          BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}


def s(text):
    b = text.encode()
    return struct.pack("<Q", len(b)) + b


def val(t, v):
    if t == STR:
        return s(v)
    if t == ARR:
        et, items = v
        body = b"".join(val(et, x) for x in items)
        return struct.pack("<IQ", et, len(items)) + body
    return struct.pack(SCALAR[t], v)


def kv(key, t, v):
    return s(key) + struct.pack("<I", t) + val(t, v)


def gguf(kvs, tensors, version=3, alignment=32):
    """tensors: (name, dims, type_id, data bytes); offsets are assigned aligned."""
    infos, blobs, off = b"", [], 0
    for name, dims, ttype, data in tensors:
        infos += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", ttype, off)
        blobs.append((off, data))
        off += (len(data) + alignment - 1) // alignment * alignment
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)) + b"".join(kvs) + infos
    if not tensors:
        return head
    head += b"\0" * (-len(head) % alignment)
    data = bytearray(off)
    for o, d in blobs:
        data[o:o + len(d)] = d
    return head + bytes(data)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "gguf")
    os.makedirs(out, exist_ok=True)
    meta = [
        kv("general.architecture", STR, "llama"),
        kv("a.u8", U8, 7), kv("a.i8", I8, -7), kv("a.u16", U16, 700), kv("a.i16", I16, -700),
        kv("a.u32", U32, 70000), kv("a.i32", I32, -70000), kv("a.f32", F32, 0.5),
        kv("a.bool", BOOL, True), kv("a.u64", U64, 2**63 + 1), kv("a.i64", I64, -2**40),
        kv("a.f64", F64, -0.25),
        kv("a.strs", ARR, (STR, ["a", "bc", ""])),
        kv("a.nested", ARR, (ARR, [(I32, [1, 2]), (F32, [1.5])])),
    ]
    f32 = struct.pack("<4f", 1, 2, 3, 4)
    q8 = struct.pack("<e", 0.5) + bytes(range(32))
    f16 = struct.pack("<2e", 1.0, -2.0)
    seeds = {
        "kv_only.gguf": gguf(meta, []),
        "one_tensor.gguf": gguf([kv("general.architecture", STR, "llama")], [("t", [4], 0, f32)]),
        "two_tensors_align16.gguf": gguf([kv("general.alignment", U32, 16)],
                                         [("q", [32], 8, q8), ("h", [1, 2], 1, f16)], alignment=16),
        "v2.gguf": gguf([kv("x", U32, 1)], [("t", [2, 2], 0, f32)], version=2),
    }
    seeds["truncated.gguf"] = seeds["one_tensor.gguf"][:45]
    seeds["bad_magic.gguf"] = b"GGUG" + seeds["one_tensor.gguf"][4:]
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as fh:
            fh.write(data)
    print(f"wrote {len(seeds)} seeds to {out}")
    write_safetensors_seeds(os.path.join(os.path.dirname(os.path.abspath(out)), "safetensors"))


def safetensors(header, data):
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def write_safetensors_seeds(out):
    os.makedirs(out, exist_ok=True)
    f32 = struct.pack("<4f", 1, 2, 3, 4)
    seeds = {
        "one_f32.safetensors": safetensors(
            {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, f32),
        "two_mixed.safetensors": safetensors(
            {"__metadata__": {"format": "pt"},
             "a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]},
             "b": {"dtype": "F16", "shape": [1, 2], "data_offsets": [4, 8]}},
            struct.pack("<2H", 0x3F80, 0xC000) + struct.pack("<2e", 1.0, -2.0)),
        "empty_tensor.safetensors": safetensors(
            {"e": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}, b""),
    }
    seeds["truncated.safetensors"] = seeds["one_f32.safetensors"][:-5]
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as fh:
            fh.write(data)
    print(f"wrote {len(seeds)} seeds to {out}")


if __name__ == "__main__":
    main()
