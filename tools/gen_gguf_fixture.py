#!/usr/bin/env python3
"""Writes tests/fixtures/gguf/reference.gguf with the independent `gguf` Python package, and
reference.expect.txt: what a correct reader must find in it, as read back by gguf.GGUFReader.

The metadata values below are inputs chosen here; tests/engine/gguf/gguf_reference_test.cpp
checks the same values. Tensor bytes, shapes and offsets come from the package (its writer lays
the file out, its Q8_0 quantiser makes the blocks), never from Glassbox.

Usage: ${GB_PYTHON:-python3} tools/gen_gguf_fixture.py [out_dir]   (needs numpy and gguf)
Expectation lines (tab-separated):
    version  N
    alignment  N
    key  NAME  TYPE               every metadata key in file order, with its GGUF type name
    tensor  NAME  TYPE  DIMS  ABS_OFFSET  N_BYTES  HEX   DIMS as ne0,ne1 (ne[0] first)
"""
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, GGUFValueType as V
from gguf import quants


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "fixtures", "gguf")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "reference.gguf")

    w = gguf.GGUFWriter(path, "llama")  # adds general.architecture = "llama"
    w.add_key_value("test.u8", 200, V.UINT8)
    w.add_key_value("test.i8", -100, V.INT8)
    w.add_key_value("test.u16", 60000, V.UINT16)
    w.add_key_value("test.i16", -30000, V.INT16)
    w.add_key_value("test.u32", 4000000000, V.UINT32)
    w.add_key_value("test.i32", -2000000000, V.INT32)
    w.add_key_value("test.u64", 18446744073709551615, V.UINT64)
    w.add_key_value("test.i64", -9000000000000000000, V.INT64)
    w.add_key_value("test.f32", 0.15625, V.FLOAT32)
    w.add_key_value("test.f64", -1.0e100, V.FLOAT64)
    w.add_key_value("test.bool_true", True, V.BOOL)
    w.add_key_value("test.bool_false", False, V.BOOL)
    w.add_key_value("test.string", "héllo, wörld\n", V.STRING)
    w.add_key_value("test.strings", ["<s>", "</s>", "", "Ġthe"], V.ARRAY, sub_type=V.STRING)
    w.add_key_value("test.i32s", [1, -2, 3], V.ARRAY, sub_type=V.INT32)
    w.add_key_value("test.f32s", [0.5, -0.25], V.ARRAY, sub_type=V.FLOAT32)
    w.add_key_value("test.nested", [[1, 2], [3]], V.ARRAY, sub_type=V.ARRAY)
    w.add_name("reference fixture")

    f32 = (np.arange(12, dtype=np.float32) - 5.5).reshape(4, 3)          # ne = [3, 4]
    f16 = (np.arange(16, dtype=np.float32) / 8.0).astype(np.float16).reshape(2, 8)  # ne = [8, 2]
    rng = np.random.default_rng(1234)
    src = rng.standard_normal((2, 64)).astype(np.float32)
    q8 = quants.quantize(src, Q.Q8_0)                                     # ne = [64, 2]
    w.add_tensor("weights.f32", f32)
    w.add_tensor("weights.f16", f16)
    w.add_tensor("weights.q8_0", q8, raw_shape=q8.shape, raw_dtype=Q.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    r = gguf.GGUFReader(path)
    lines = [f"version\t{int(r.fields['GGUF.version'].parts[-1][0])}", f"alignment\t{r.alignment}"]
    for name, field in r.fields.items():
        if name.startswith("GGUF."):
            continue
        lines.append(f"key\t{name}\t{V(field.types[0]).name}")
    for t in r.tensors:
        dims = ",".join(str(int(d)) for d in t.shape)
        raw = np.asarray(t.data).tobytes()
        lines.append(f"tensor\t{t.name}\t{Q(t.tensor_type).name}\t{dims}\t{t.data_offset}\t"
                     f"{t.n_bytes}\t{raw.hex()}")
    with open(os.path.join(out, "reference.expect.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
