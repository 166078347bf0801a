#!/usr/bin/env bash
# Precise mode's speed against the fast mode's, on the same file and threads, measured side by
# side: ROUNDS rounds of `glassbox-cli bench` alternating fast and --precise (so that the
# machine's drift hits both alike), then the median of each mode's medians and their ratio.
# Issue 20 asks precise decode to keep at least 0.6x of the fast mode's speed.
#
# Usage: tools/bench_precise.sh [MODEL.gguf ...]   (default: SmolLM2-135M Q4_1 and
#        Qwen2.5-Coder-0.5B Q4_K_M from tools/fetch_models.sh)
#   env: ROUNDS (5), THREADS (2), PP (128), TG (64), REPS (3), DEPTH (0), GB_CLI (build/app/glassbox-cli)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cli="${GB_CLI:-$root/build/app/glassbox-cli}"
models_dir="${GLASSBOX_MODELS:-$HOME/.cache/glassbox/models}"
rounds="${ROUNDS:-5}" threads="${THREADS:-2}" pp="${PP:-128}" tg="${TG:-64}" reps="${REPS:-3}"
depth="${DEPTH:-0}"
models=("$@")
if ((${#models[@]} == 0)); then
    models=("$models_dir/SmolLM2-135M-Instruct.Q4_1.gguf"
            "$models_dir/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf")
fi
[[ -x "$cli" ]] || { echo "no $cli: build first (tools/build.sh)" >&2; exit 1; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) {print "nan"; exit}
    print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }

printf '%-44s %-8s %10s %10s\n' "model (${threads} threads, depth ${depth})" mode "pp${pp}" "tg${tg}"
for m in "${models[@]}"; do
    [[ -f "$m" ]] || { echo "missing $m (tools/fetch_models.sh)" >&2; exit 1; }
    declare -A pps=() tgs=()
    for ((r = 0; r < rounds; ++r)); do
        for mode in fast precise; do
            flag=()
            [[ $mode == precise ]] && flag=(--precise)
            out=$("$cli" bench -m "$m" -t "$threads" -p "$pp" -n "$tg" -r "$reps" -d "$depth" \
                  "${flag[@]}" 2>/dev/null)
            pps[$mode]+="$(awk -v k="pp$pp:" '$1 == k {print $2}' <<<"$out") "
            tgs[$mode]+="$(awk -v k="tg$tg:" '$1 == k {print $2}' <<<"$out") "
        done
    done
    name=$(basename "$m")
    for mode in fast precise; do
        p=$(tr ' ' '\n' <<<"${pps[$mode]}" | grep . | median)
        t=$(tr ' ' '\n' <<<"${tgs[$mode]}" | grep . | median)
        printf '%-44s %-8s %10.1f %10.1f\n' "${name:0:44}" "$mode" "$p" "$t"
        eval "pp_$mode=$p tg_$mode=$t"
    done
    awk -v a="$pp_precise" -v b="$pp_fast" -v c="$tg_precise" -v d="$tg_fast" -v n="${name:0:44}" \
        'BEGIN {printf "%-44s %-8s %9.2fx %9.2fx\n", n, "ratio", a / b, c / d}'
    unset pps tgs
done
