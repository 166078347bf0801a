#!/usr/bin/env python3
"""End to end against a real OpenAI-compatible server: llama-cpp-python's server (from PyPI),
started here on loopback, serving SmolLM2-135M and our demo reasoning model; glassbox-cli
run --remote streams a reply from each and writes its trace. Checked against what the server
itself means: the records' texts make the reply, every token has a finite log-probability and
a top list; greedy decoding (temperature 0) took the most likely token every time, so each
token's log-probability is its top list's first; the reply stops for a reason the server named.

Skipped (exit 77) when no Python with llama_cpp.server is found: tools/setup_python_env.sh
--full installs it (llama-cpp-python builds from source, minutes), or set GB_PYTHON.
Usage: remote_e2e_test.py --cli build/app/glassbox-cli
"""
import argparse
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

SKIP = 77


def find_python():
    for py in [os.environ.get("GB_PYTHON"),
               os.path.expanduser("~/.cache/glassbox/venv/bin/python")]:
        if py and os.path.exists(py):
            ok = subprocess.run([py, "-c", "import llama_cpp.server.app, uvicorn"],
                                capture_output=True).returncode == 0
            if ok:
                return py
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(url, proc, seconds=60):
    end = time.time() + seconds
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200
        except Exception:
            time.sleep(0.3)
    return False


def check_model(py, cli, model_path, alias, prompt, failures):
    port = free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([py, "-m", "llama_cpp.server", "--model", model_path, "--host",
                             "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
                             "--model_alias", alias, "--n_threads", "2"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}/v1"
        if not wait_for(base + "/models", proc):
            log.seek(0)
            failures.append(f"{alias}: the server did not start: {log.read()[-800:]!r}")
            return
        for mode, text in (("chat", prompt[0]), ("completion", prompt[1])):
            check_reply(cli, base, alias, text, mode, failures)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def check_reply(cli, base, alias, prompt, mode, failures):
    with tempfile.TemporaryDirectory() as d:
        trace_path = os.path.join(d, "trace.json")
        extra = ["--completion"] if mode == "completion" else []
        r = subprocess.run([cli, "run", "--remote", base, "-m", alias, "-p", prompt, "-n",
                            "32", "--temp", "0", "--trace", trace_path] + extra,
                           capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            failures.append(f"{alias} {mode}: glassbox-cli exited {r.returncode}: "
                            f"{r.stderr[-500:]}")
            return
        t = json.load(open(trace_path))
    toks = t["tokens"]
    where = f"{alias} {mode} ({len(toks)} tokens)"
    if not toks:
        failures.append(f"{where}: no tokens")
        return
    if t["stop_reason"] not in ("eog", "max tokens"):
        failures.append(f"{where}: stop reason {t['stop_reason']!r}")
    if not t["backend"].startswith("remote 127.0.0.1:"):
        failures.append(f"{where}: backend {t['backend']!r}")
    for i, tok in enumerate(toks):
        lp = tok.get("logprob")
        if lp is None or not math.isfinite(lp) or lp > 1e-4:
            failures.append(f"{where}: token {i} logprob {lp}")
            break
        if not tok["top"]:
            failures.append(f"{where}: token {i} has no alternatives")
            break
        best = max(a["logprob"] for a in tok["top"])
        if abs(best - lp) > 1e-3:
            failures.append(f"{where}: greedy token {i} {tok.get('text')!r} has logprob {lp}, "
                            f"the best alternative {best}")
            break
    text = "".join(tok.get("text", "") for tok in toks)
    joined = (t.get("reasoning_text", "") + t.get("answer_text", "")).replace(" ", "")
    # Markers are left out of the texts, except a stray end marker outside any reasoning,
    # which the answer keeps as the model wrote it (as for a local reply).
    joined = joined.replace("<think>", "").replace("</think>", "")
    flat = text.replace("<think>", "").replace("</think>", "").replace(" ", "")
    if joined.replace("\n", "") != flat.replace("\n", ""):
        failures.append(f"{where}: the records' text {text!r} is not the reply "
                        f"{t.get('reasoning_text')!r} + {t.get('answer_text')!r}")
    print(f"{where}: stop {t['stop_reason']}, reasoning "
          f"{len(t.get('reasoning_text', ''))} chars, answer {t.get('answer_text', '')[:60]!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    args = ap.parse_args()
    py = find_python()
    if not py:
        print("SKIP: no Python with llama_cpp.server (tools/setup_python_env.sh --full)")
        return SKIP
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    models = [(os.path.expanduser("~/.cache/glassbox/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
               "smollm2", ("What is the capital of France?", "The capital of France is")),
              (os.path.join(root, "resources/models/glassbox-demo-moe.gguf"), "glassbox-demo",
               ("What is 17 + 25?", "17 + 25 ="))]
    failures, ran = [], 0
    for path, alias, prompt in models:
        if not os.path.exists(path):
            print(f"note: {path} not found, {alias} not checked")
            continue
        check_model(py, args.cli, path, alias, prompt, failures)
        ran += 1
    if ran == 0:
        print("SKIP: no model file")
        return SKIP
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
