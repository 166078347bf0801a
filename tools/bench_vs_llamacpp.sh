#!/usr/bin/env bash
# Measures prompt processing (pp512) and generation (tg128) speed of glassbox-cli and of
# llama.cpp (through llama-cpp-python) on the same GGUF file with the same thread count, at
# each depth asked for, and prints both with Glassbox's ratio to llama.cpp. Run by hand; it
# asserts nothing.
#
# Usage: tools/bench_vs_llamacpp.sh MODEL.gguf [THREADS] [DEPTHS]
#   DEPTHS: tokens already in the KV cache when each test starts, comma-separated (default 0;
#           e.g. 0,4096,8192 for speed deep into a long chain of thought)
#   env: GB_CLI (default build/app/glassbox-cli), GB_PYTHON (python with llama-cpp-python;
#        default python3, see tools/setup_python_env.sh --full), GB_BENCH_REPS (default 3),
#        GB_CLI_BEFORE (another glassbox-cli, e.g. an earlier commit's build: measured too,
#        in a "before" column with its own ratio), GB_CACHE_TYPE (passed as --cache-type),
#        GB_BENCH_ROUNDS (default 2)
# A shared machine's speed drifts by tens of percent over minutes, so the engines take turns:
# each round runs [before,] glassbox, then llama.cpp; the table gives each engine's median over
# the rounds, the ratio of those medians, and each round's own ratio.
# Both sides: pp = one batch of 512 prompt tokens after DEPTH cached tokens; tg = 128
# single-token steps after DEPTH cached tokens (the depth filled untimed, in batches of 512).
# Both report the median of GB_BENCH_REPS runs after a warm-up.
set -euo pipefail

if [[ $# -lt 1 || ! -f "$1" ]]; then
    echo "usage: $0 MODEL.gguf [THREADS] [DEPTHS]" >&2
    exit 2
fi
model="$1"
threads="${2:-$(nproc)}"
depths="${3:-0}"
if ! [[ "$depths" =~ ^[0-9]+(,[0-9]+)*$ ]]; then
    echo "DEPTHS must be token counts separated by commas, got '$depths'" >&2
    exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
cli="${GB_CLI:-$root/build/app/glassbox-cli}"
py="${GB_PYTHON:-python3}"
reps="${GB_BENCH_REPS:-3}"

echo "model:   $model"
echo "threads: $threads"
echo "depths:  $depths"

gb_bench() {  # CLI [extra args]: its bench output, or nothing when it fails
    local out
    if ! out=$("$@" -m "$model" -t "$threads" -r "$reps" -d "$depths" 2>&1); then
        echo "$1 bench failed:" >&2
        echo "$out" >&2
        out=""
    fi
    echo "$out"
}

before="${GB_CLI_BEFORE:-}"
extra=()
[[ -n "${GB_CACHE_TYPE:-}" ]] && extra=(--cache-type "$GB_CACHE_TYPE")
if [[ ! -x "$cli" ]]; then
    echo "note: $cli not found (build it, or set GB_CLI); measuring llama.cpp only" >&2
fi
rounds="${GB_BENCH_ROUNDS:-2}"
if ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then
    echo "GB_BENCH_ROUNDS must be a positive whole number, got '$rounds'" >&2
    exit 2
fi

lc_bench() {
    "$py" - "$model" "$threads" "$reps" "$depths" <<'EOF'
import statistics, sys, time
import numpy as np
from llama_cpp import Llama

model, threads, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
depths = [int(d) for d in sys.argv[4].split(",")]
llm = Llama(model_path=model, n_ctx=max(depths) + 512 + 128 + 16, n_batch=512, n_ubatch=512,
            n_threads=threads, n_threads_batch=threads, logits_all=False, verbose=False)
# Random but fixed token ids, away from the special tokens at either end of the vocabulary.
rng = np.random.default_rng(0)
def tokens(n):
    return [int(t) for t in rng.integers(100, llm.n_vocab() - 300, size=n)]
prompt = tokens(512)

def at(depth):
    # eval() appends at n_tokens and first drops the cache past it: rewinding n_tokens keeps
    # the first `depth` positions and starts the test there.
    llm.n_tokens = depth

def pp(depth):
    at(depth)
    t = time.perf_counter()
    llm.eval(prompt)
    return 512 / (time.perf_counter() - t)

def tg(depth):
    at(depth)
    t = time.perf_counter()
    for tok in prompt[:128]:
        llm.eval([tok])
    return 128 / (time.perf_counter() - t)

llm.reset()
pp(0); tg(0)  # warm-up: page in the weights, size the buffers
for d in depths:
    llm.reset()
    if d:
        llm.eval(tokens(d))  # the depth, untimed
    name = (lambda t: t if d == 0 else f"{t} @ d{d}")
    print(f"{name('pp512')}: {statistics.median(pp(d) for _ in range(reps)):.1f}")
    print(f"{name('tg128')}: {statistics.median(tg(d) for _ in range(reps)):.1f}")
EOF
}

before_outs=()
gb_outs=()
lc_outs=()
for ((r = 0; r < rounds; r++)); do
    # an earlier build may not know --cache-type
    [[ -n "$before" ]] && before_outs+=("$(gb_bench "$before" bench)")
    if [[ -x "$cli" ]]; then gb_outs+=("$(gb_bench "$cli" bench "${extra[@]}")"); else gb_outs+=(""); fi
    lc_outs+=("$(lc_bench)")
done

ratio() {  # glassbox llama.cpp
    if [[ -n "$1" && -n "$2" ]]; then
        awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'
    else
        echo "-"
    fi
}

# The value after "NAME: " on the line that starts with it.
value() { awk -v n="$1: " 'index($0, n) == 1 { print substr($0, length(n) + 1) + 0 }' <<<"$2"; }

# NAME OUTPUTS...: the median of NAME's values over the outputs that have one (empty if none).
median_of() {
    local name="$1" o
    shift
    for o in "$@"; do value "$name" "$o"; done | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) printf "%.4g", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# NAME: each round's glassbox / llama.cpp ratio, joined by spaces.
round_ratios() {
    local r out=()
    for ((r = 0; r < rounds; r++)); do
        out+=("$(ratio "$(value "$1" "${gb_outs[r]}")" "$(value "$1" "${lc_outs[r]}")")")
    done
    echo "${out[*]}"
}

echo
echo "median of $rounds rounds (each the median of $reps repetitions)"
if [[ -n "$before" ]]; then
    printf '%-16s %14s %14s %16s %8s %8s  %s\n' test "before tok/s" "glassbox tok/s" \
        "llama.cpp tok/s" "before" ratio "ratio by round"
else
    printf '%-16s %14s %16s %8s  %s\n' test "glassbox tok/s" "llama.cpp tok/s" ratio \
        "ratio by round"
fi
IFS=, read -r -a ds <<<"$depths"
for d in "${ds[@]}"; do
    for t in pp512 tg128; do
        name="$t"
        [[ "$d" != 0 ]] && name="$t @ d$d"
        gb=$(median_of "$name" "${gb_outs[@]}")
        lc=$(median_of "$name" "${lc_outs[@]}")
        if [[ -n "$before" ]]; then
            bf=$(median_of "$name" "${before_outs[@]}")
            printf '%-16s %14s %14s %16s %8s %8s  %s\n' "$name" "${bf:--}" "${gb:--}" \
                "${lc:--}" "$(ratio "$bf" "$lc")" "$(ratio "$gb" "$lc")" "$(round_ratios "$name")"
        else
            printf '%-16s %14s %16s %8s  %s\n' "$name" "${gb:--}" "${lc:--}" \
                "$(ratio "$gb" "$lc")" "$(round_ratios "$name")"
        fi
    done
done
