#!/usr/bin/env bash
# Measures prompt processing (pp512) and generation (tg128) speed of glassbox-cli and of
# llama.cpp (through llama-cpp-python) on the same GGUF file with the same thread count, and
# prints both with Glassbox's ratio to llama.cpp. Run by hand; it asserts nothing.
#
# Usage: tools/bench_vs_llamacpp.sh MODEL.gguf [THREADS]
#   env: GB_CLI (default build/app/glassbox-cli), GB_PYTHON (python with llama-cpp-python;
#        default python3, see tools/setup_python_env.sh --full), GB_BENCH_REPS (default 3)
# Both sides: pp = one batch of 512 prompt tokens into an empty KV cache; tg = 128 single-token
# steps from an empty cache. llama.cpp figures are the median of GB_BENCH_REPS runs after a warm-up.
set -euo pipefail

if [[ $# -lt 1 || ! -f "$1" ]]; then
    echo "usage: $0 MODEL.gguf [THREADS]" >&2
    exit 2
fi
model="$1"
threads="${2:-$(nproc)}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cli="${GB_CLI:-$root/build/app/glassbox-cli}"
py="${GB_PYTHON:-python3}"
reps="${GB_BENCH_REPS:-3}"

echo "model:   $model"
echo "threads: $threads"

gb_pp="" gb_tg=""
if [[ -x "$cli" ]]; then
    if gb_out=$("$cli" bench -m "$model" -t "$threads" 2>&1); then
        gb_pp=$(sed -n 's/^pp512: *\([0-9.]*\) *tok\/s.*/\1/p' <<<"$gb_out" | tail -1)
        gb_tg=$(sed -n 's/^tg128: *\([0-9.]*\) *tok\/s.*/\1/p' <<<"$gb_out" | tail -1)
    else
        echo "glassbox-cli bench failed:" >&2
        echo "$gb_out" >&2
    fi
else
    echo "note: $cli not found (build it, or set GB_CLI); measuring llama.cpp only" >&2
fi

lc_out=$("$py" - "$model" "$threads" "$reps" <<'EOF'
import statistics, sys, time
import numpy as np
from llama_cpp import Llama

model, threads, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
llm = Llama(model_path=model, n_ctx=1024, n_batch=512, n_ubatch=512, n_threads=threads,
            n_threads_batch=threads, logits_all=False, verbose=False)
# Random but fixed token ids, away from the special tokens at either end of the vocabulary.
rng = np.random.default_rng(0)
prompt = [int(t) for t in rng.integers(100, llm.n_vocab() - 300, size=512)]

def pp():
    llm.reset()
    t = time.perf_counter()
    llm.eval(prompt)
    return 512 / (time.perf_counter() - t)

def tg():
    llm.reset()
    t = time.perf_counter()
    for tok in prompt[:128]:
        llm.eval([tok])
    return 128 / (time.perf_counter() - t)

pp(); tg()  # warm-up: page in the weights, size the buffers
print(f"pp512: {statistics.median(pp() for _ in range(reps)):.1f}")
print(f"tg128: {statistics.median(tg() for _ in range(reps)):.1f}")
EOF
)
lc_pp=$(sed -n 's/^pp512: //p' <<<"$lc_out")
lc_tg=$(sed -n 's/^tg128: //p' <<<"$lc_out")

ratio() {  # glassbox llama.cpp
    if [[ -n "$1" && -n "$2" ]]; then
        awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'
    else
        echo "-"
    fi
}

printf '\n%-8s %14s %14s %10s\n' test "glassbox tok/s" "llama.cpp tok/s" ratio
printf '%-8s %14s %14s %10s\n' pp512 "${gb_pp:--}" "$lc_pp" "$(ratio "$gb_pp" "$lc_pp")"
printf '%-8s %14s %14s %10s\n' tg128 "${gb_tg:--}" "$lc_tg" "$(ratio "$gb_tg" "$lc_tg")"
