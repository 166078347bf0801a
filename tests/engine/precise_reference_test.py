#!/usr/bin/env python3
"""Precise mode against the exact reference (tools/exact_reference.py), on quantised copies of
the tiny fixtures: glassbox-cli run --precise must give chosen-token and top-N log-probabilities
within 1e-5 nats RMS (1e-4 max) of a float64 forward pass of the same dequantised weights, with
no greedy choice that differs from the exact argmax where the exact margin exceeds 1e-3; and the
fast mode on the same file must be measurably further off (so that the check can tell them
apart).

--real (not in CI: minutes): the same on the real models of tools/fetch_models.sh, SmolLM2-135M
Q4_1 and Qwen2.5-Coder-0.5B Q4_K_M, four chat replies each, with the issue's limits (1e-4 RMS,
1e-3 max); --llamacpp also measures llama.cpp on the same token sequences (the error table).

Usage: precise_reference_test.py --cli GLASSBOX_CLI [--python PY] [--keep DIR] [--real]
                                 [--llamacpp]
  PY: a Python with numpy and gguf (default $GB_PYTHON, else the tools venv,
  ~/.cache/glassbox/venv/bin/python). Without one the test is skipped (exit 77), unless
  GB_REQUIRE_REFERENCE=1 (tools/test.sh sets it after installing the venv): then it fails.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "tests", "fixtures", "models")
REF = os.path.join(ROOT, "tools", "exact_reference.py")

# (fixture, type): llama's RoPE pairing with a 4-bit type that has a minimum, qwen2's (NeoX, with
# q/k/v biases) with one that has none.
CASES = [("tiny_llama", "q4_1"), ("tiny_qwen2", "q4_0")]
PROMPTS = ["Hello world", "The quick brown fox"]
PRECISE_RMS, PRECISE_MAX = 1e-5, 1e-4
MODELS = os.environ.get("GLASSBOX_MODELS", os.path.expanduser("~/.cache/glassbox/models"))
REAL = [("SmolLM2-135M-Instruct.Q4_1.gguf", None), ("Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf", None)]
REAL_PROMPTS = ["What is the capital of France?", "Write a haiku about the sea.",
                "Is 91 a prime number? Explain.", "List three uses of a paperclip."]
REAL_RMS, REAL_MAX = 1e-4, 1e-3


def python_with_reference(arg):
    candidates = [arg, os.environ.get("GB_PYTHON"),
                  os.path.expanduser("~/.cache/glassbox/venv/bin/python")]
    for py in candidates:
        if py and os.path.exists(py) and subprocess.run(
                [py, "-c", "import numpy, gguf"], capture_output=True).returncode == 0:
            return py
    return None


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"FAILED: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--python")
    ap.add_argument("--keep", help="keep the files in this directory")
    ap.add_argument("--real", action="store_true", help="the real models, not the fixtures")
    ap.add_argument("--llamacpp", action="store_true", help="also measure llama.cpp")
    args = ap.parse_args()
    py = python_with_reference(args.python)
    if not py:
        msg = "no Python with numpy and gguf (tools/setup_python_env.sh installs one)"
        if os.environ.get("GB_REQUIRE_REFERENCE") == "1":
            sys.exit("FAILED: " + msg)
        print("SKIPPED: " + msg)
        return 77
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        return check(args, py, args.keep)
    with tempfile.TemporaryDirectory(prefix="gb_precise_") as tmp:
        return check(args, py, tmp)


def check(args, py, tmp):
    """Runs every case with its files in tmp; 0 when all are within the limits, else 1."""
    failures = []
    cases = [(f, None) for f, _ in REAL] if args.real else CASES
    prompts = REAL_PROMPTS if args.real else PROMPTS
    lim_rms, lim_max = (REAL_RMS, REAL_MAX) if args.real else (PRECISE_RMS, PRECISE_MAX)
    for fixture, qtype in cases:
        if qtype:
            model = os.path.join(tmp, f"{fixture}_{qtype}.gguf")
            run([args.cli, "convert", os.path.join(FIX, fixture + ".gguf"), model, "--type",
                 qtype])
        else:
            model = os.path.join(MODELS, fixture)
            if not os.path.exists(model):
                sys.exit(f"FAILED: {model} is missing (tools/fetch_models.sh fetches it)")
        result = {}
        for mode in ("fast", "precise"):
            traces = []
            for i, prompt in enumerate(prompts):
                trace = os.path.join(tmp, f"{fixture}_{qtype}_{mode}_{i}.json")
                cmd = [args.cli, "run", "-m", model, "-p", prompt, "-n", "40" if args.real else "24",
                       "--temp", "0", "--top-n", "5", "--quiet", "--trace", trace, "-t", "2"]
                if args.real:
                    cmd.append("--chat")
                if mode == "precise":
                    cmd.append("--precise")
                run(cmd)
                with open(trace) as f:
                    got = json.load(f).get("precision")
                if got != mode:
                    failures.append(f"{fixture} {mode}: the trace says precision {got!r}")
                traces.append(trace)
            out = os.path.join(tmp, f"{fixture}_{qtype}_{mode}_errors.json")
            extra = ["--llamacpp"] if args.llamacpp and mode == "fast" else []
            print(run([py, REF, "-m", model, *traces, "--json", out, *extra]))
            with open(out) as f:
                doc = json.load(f)["all"]
                result[mode] = doc["glassbox"]
                if "llama.cpp" in doc:
                    result["llama.cpp"] = doc["llama.cpp"]
        p, fst = result["precise"], result["fast"]
        print(f"{fixture} {qtype}: precise chosen RMS {p['chosen_rms']:.2e} max "
              f"{p['chosen_max']:.2e}, top RMS {p['top_rms']:.2e} max {p['top_max']:.2e}, "
              f"flips {len(p['flips'])}; fast chosen RMS {fst['chosen_rms']:.2e} max "
              f"{fst['chosen_max']:.2e}, top RMS {fst['top_rms']:.2e}")
        if "llama.cpp" in result:
            lc = result["llama.cpp"]
            print(f"{fixture}: llama.cpp chosen RMS {lc['chosen_rms']:.2e} max "
                  f"{lc['chosen_max']:.2e}, top RMS {lc['top_rms']:.2e} max {lc['top_max']:.2e}")
        for what, limit in (("chosen_rms", lim_rms), ("top_rms", lim_rms),
                            ("chosen_max", lim_max), ("top_max", lim_max)):
            if p[what] is None or p[what] > limit:
                failures.append(f"{fixture} {qtype} precise: {what} {p[what]} above {limit}")
        if p["flips"]:
            failures.append(f"{fixture} {qtype} precise: greedy choices differ from the exact "
                            f"ones: {p['flips']}")
        if not fst["top_rms"] or fst["top_rms"] < 10 * max(p["top_rms"], 1e-7):
            failures.append(f"{fixture} {qtype}: the fast mode ({fst['top_rms']}) is not "
                            f"measurably further off than the precise one ({p['top_rms']})")
    if failures:
        print("\n".join("FAILED: " + f for f in failures))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
