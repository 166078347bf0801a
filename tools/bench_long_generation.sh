#!/usr/bin/env bash
# Speed of one long generation, as a reasoning model writes it: generates N tokens (default
# 16,000) with glassbox-cli run, past the end-of-generation token, records the trace (every
# token's time, probabilities, alternatives and, for MoE models, routing: what the app records
# too), and prints tokens/s over the 256 tokens before 1k, 4k, 8k, 16k ... generated tokens,
# beside the first window's rate. Run by hand; it asserts nothing.
#
# Usage: tools/bench_long_generation.sh MODEL.gguf [N] [THREADS] [PROMPT]
#   env: GB_CLI (default build/app/glassbox-cli), GB_CACHE_TYPE (default f16)
set -euo pipefail

if [[ $# -lt 1 || ! -f "$1" ]]; then
    echo "usage: $0 MODEL.gguf [N] [THREADS] [PROMPT]" >&2
    exit 2
fi
model="$1"
n="${2:-16000}"
threads="${3:-$(nproc)}"
prompt="${4:-742*38}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cli="${GB_CLI:-$root/build/app/glassbox-cli}"
trace="$(mktemp --suffix=.json)"
trap 'rm -f "$trace"' EXIT

"$cli" run -m "$model" --chat -p "$prompt" -n "$n" --ignore-eos --temp 1 --seed 1 \
    -t "$threads" --ctx $((n + 256)) --cache-type "${GB_CACHE_TYPE:-f16}" --trace "$trace" \
    --quiet >/dev/null

python3 - "$trace" "$n" <<'PY'
import json, sys
trace = json.load(open(sys.argv[1]))
times = [t["t_ms"] for t in trace["tokens"] if t.get("phase") != "prompt"]
n = len(times)
print(f"generated {n} tokens in {times[-1] / 1000:.1f} s")
win = 256
first = None
for mark in [1000, 2000, 4000, 8000, 12000, 16000, 24000, 32000]:
    if mark > n:
        break
    rate = win / ((times[mark - 1] - times[mark - 1 - win]) / 1000)
    first = first or rate
    print(f"tokens {mark - win:6d}..{mark:6d}: {rate:8.1f} tok/s ({rate / first:.2f} of the first)")
PY
