#!/usr/bin/env bash
# tools/gpu_check.sh: the GPU machine's one-stop check. Builds with CUDA (Release, this GPU's
# architecture), runs every CUDA test, writes synthetic GGUF models with the exact shapes and
# Q4_K_M mix of DeepSeek-R1-Distill-Qwen-7B and Qwen3-30B-A3B (random weights, our GGUF writer:
# nothing is downloaded), benchmarks them with `glassbox-cli bench --backend cuda` (decode tg128,
# prefill pp2048; decode once more with the decode-step CUDA graphs off, GLASSBOX_CUDA_GRAPHS=0)
# and prints one summary against the H200's rooflines: decode vs weight bytes read per token /
# 4.8 TB/s, prefill vs the dense BF16 tensor peak of ~989 TFLOPS.
# Meant to finish within 8 minutes on an H200. On a machine without nvcc or an NVIDIA GPU it says
# so and exits 0.
#
#   tools/gpu_check.sh            env: GB_GPU_BUILD (build dir), GB_GPU_MODELS (model dir),
#                                      GB_BW_TBS (4.8), GB_PEAK_TFLOPS (989)
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${GB_GPU_BUILD:-$root/build-gpu-check}
models=${GB_GPU_MODELS:-${TMPDIR:-/tmp}/glassbox-gpu-check}
bw_tbs=${GB_BW_TBS:-4.8}
peak_tflops=${GB_PEAK_TFLOPS:-989}
t_start=$(date +%s)
elapsed() { echo $(($(date +%s) - t_start)); }

nvcc_path=$(command -v nvcc || true)
[ -z "$nvcc_path" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc_path=/usr/local/cuda/bin/nvcc
if [ -z "$nvcc_path" ]; then
    echo "gpu_check: skipped: no CUDA toolkit (nvcc not found, nor /usr/local/cuda/bin/nvcc)"
    exit 0
fi
if ! command -v nvidia-smi >/dev/null; then
    echo "gpu_check: skipped: no NVIDIA GPU visible (nvidia-smi not found: no driver)"
    exit 0
fi
if ! gpus=$(nvidia-smi --query-gpu=name,compute_cap,memory.total --format=csv,noheader 2>&1); then
    echo "gpu_check: skipped: no NVIDIA GPU visible (nvidia-smi: $gpus)"
    exit 0
fi
echo "gpu_check: $(echo "$gpus" | head -1)"
arch=$(echo "$gpus" | head -1 | awk -F', ' '{gsub(/\./, "", $2); print $2}')

# ---- build ------------------------------------------------------------------------------------
gen=Ninja
command -v ninja >/dev/null || gen="Unix Makefiles"
tests=$(cd "$root/tests/kernels/cuda" && ls *_test.cpp | sed 's/\.cpp$//')
echo "== build ($gen, Release, sm_$arch) into $build"
if ! cmake -S "$root" -B "$build" -G "$gen" -DCMAKE_BUILD_TYPE=Release -DGLASSBOX_CUDA=ON \
        -DCMAKE_CUDA_COMPILER="$nvcc_path" -DCMAKE_CUDA_ARCHITECTURES="$arch" -DGLASSBOX_APP=OFF \
        > "$build.configure.log" 2>&1; then
    tail -30 "$build.configure.log"
    echo "gpu_check: FAILED: configure (log: $build.configure.log)"
    exit 1
fi
# shellcheck disable=SC2086
if ! cmake --build "$build" -j "$(nproc)" --target glassbox-cli gb_synthetic_model $tests \
        > "$build.build.log" 2>&1; then
    grep -E "error|Error" "$build.build.log" | head -30
    echo "gpu_check: FAILED: build (log: $build.build.log)"
    exit 1
fi
echo "   built in $(elapsed) s"

# ---- tests ------------------------------------------------------------------------------------
echo "== CUDA tests"
test_summary=""
tests_ok=1
for t in $tests; do
    out=$(cd "$build" && timeout 240 "./tests/$t" --gtest_brief=1 2>&1)
    rc=$?
    line=$(echo "$out" | grep -E "^\[  (PASSED|FAILED|SKIPPED) " | tr '\n' ' ')
    skips=$(echo "$out" | grep -c "no CUDA device" || true)
    if [ $rc -ne 0 ]; then
        tests_ok=0
        echo "$out" | tail -40
    fi
    printf "   %-26s rc=%d %s%s\n" "$t" "$rc" "$line" "$([ "$skips" -gt 0 ] && echo " ($skips skipped: no device)")"
    test_summary+="$t rc=$rc; "
done

# ---- synthetic models and benchmarks -----------------------------------------------------------
mkdir -p "$models"
declare -A facts
gen_model() {  # name -> writes $models/$1.gguf, facts into $models/$1.txt
    local name=$1
    if [ ! -s "$models/$name.gguf" ] || [ ! -s "$models/$name.txt" ]; then
        "$build/tests/gb_synthetic_model" "$name" "$models/$name.gguf" > "$models/$name.txt" ||
            { echo "gpu_check: FAILED: writing $name"; return 1; }
    fi
}
fact() { grep "^$2=" "$models/$1.txt" | cut -d= -f2; }

bench_model() {  # name -> "pp tg" tok/s (decode with CUDA graphs on)
    local name=$1 out
    out=$(GLASSBOX_CUDA_GRAPHS=1 timeout 200 "$build/app/glassbox-cli" bench \
              -m "$models/$name.gguf" --backend cuda -p 2048 -n 128 -r 2 2>&1)
    echo "$out" | sed 's/^/   /' >&2
    local pp tg
    pp=$(echo "$out" | awk '/^pp2048:/ {print $2}')
    tg=$(echo "$out" | awk '/^tg128:/ {print $2}')
    echo "${pp:-0} ${tg:-0}"
}

bench_eager_decode() {  # name -> tg tok/s with the decode-step graphs off (a 16-token prompt)
    local name=$1 out
    out=$(GLASSBOX_CUDA_GRAPHS=0 timeout 120 "$build/app/glassbox-cli" bench \
              -m "$models/$name.gguf" --backend cuda -p 16 -n 128 -r 2 2>&1)
    echo "$out" | sed 's/^/   /' >&2
    local tg
    tg=$(echo "$out" | awk '/^tg128:/ {print $2}')
    echo "${tg:-0}"
}

bench_trace_cost() {  # name -> the decode speed change with the trace on, in % (issue: >= -2%)
    local name=$1 out
    out=$(GLASSBOX_CUDA_GRAPHS=1 timeout 120 "$build/app/glassbox-cli" bench \
              -m "$models/$name.gguf" --backend cuda -p 16 -n 64 -r 1 --trace-cost 2>&1)
    echo "$out" | sed 's/^/   /' >&2
    local pct
    pct=$(echo "$out" | awk '$1 == "on" && $2 != "+" {gsub(/[()%,]/, "", $4); print $4; exit}')
    echo "${pct:-}"
}

declare -A pp tg tg_eager trace_pct
# The graphs-off decode runs are the first thing dropped when the 8 minutes run short.
eager_budget_s=${GB_EAGER_BUDGET_S:-400}
for m in r1-distill-qwen-7b qwen3-30b-a3b; do
    echo "== $m: write (t=$(elapsed) s)"
    gen_model "$m" || continue
    echo "   $(fact "$m" weight_bytes) weight bytes, $(fact "$m" decode_bytes_per_token) read per decoded token"
    echo "== $m: bench --backend cuda -p 2048 -n 128, CUDA graphs on (t=$(elapsed) s)"
    read -r pp[$m] tg[$m] < <(bench_model "$m")
    if [ "$(elapsed)" -lt "$eager_budget_s" ]; then
        echo "== $m: bench --backend cuda -p 16 -n 128, CUDA graphs off (t=$(elapsed) s)"
        read -r tg_eager[$m] < <(bench_eager_decode "$m")
    else
        echo "== $m: graphs-off decode skipped: $(elapsed) s used of the time budget"
    fi
    if [ "$(elapsed)" -lt "${GB_TRACE_BUDGET_S:-430}" ]; then
        echo "== $m: bench --trace-cost (t=$(elapsed) s)"
        read -r trace_pct[$m] < <(bench_trace_cost "$m")
    else
        echo "== $m: trace-cost run skipped: $(elapsed) s used of the time budget"
    fi
done

# ---- summary ----------------------------------------------------------------------------------
echo
echo "================ gpu_check summary ($(elapsed) s) ================"
echo "device: $(echo "$gpus" | head -1)"
echo "tests:  $test_summary$([ $tests_ok = 1 ] && echo "all passed" || echo "SOME FAILED")"
for m in r1-distill-qwen-7b qwen3-30b-a3b; do
    [ -s "$models/$m.txt" ] || { echo "$m: not generated"; continue; }
    dec=$(fact "$m" decode_bytes_per_token)
    params=$(fact "$m" prefill_params_per_token)
    nl=$(fact "$m" n_layer); nh=$(fact "$m" n_head); hd=$(fact "$m" head_dim)
    target_dec=80; [ "$m" = qwen3-30b-a3b ] && target_dec=60
    awk -v name="$m" -v pp="${pp[$m]:-0}" -v tg="${tg[$m]:-0}" -v tge="${tg_eager[$m]:-}" \
        -v trace="${trace_pct[$m]:-}" \
        -v dec="$dec" -v params="$params" \
        -v nl="$nl" -v nh="$nh" -v hd="$hd" -v bw="$bw_tbs" -v peak="$peak_tflops" \
        -v tdec="$target_dec" 'BEGIN {
        roof = bw * 1e12 / dec
        dpct = 100 * tg / roof
        # per prompt token: 2 flops per weight used, plus causal attention (QK and PV, 2 flops
        # each per head dim, over 1024 positions on average for a 2048-token prompt)
        flops = 2 * params + 4 * nl * nh * hd * 1024
        tflops = pp * flops / 1e12
        ppct = 100 * tflops / peak
        printf "%s\n", name
        printf "  decode  tg128 %8.1f tok/s   roofline %7.1f tok/s (%.2f GB/token at %.1f TB/s)  %5.1f%%  target >= %d%% %s\n",
               tg, roof, dec / 1e9, bw, dpct, tdec, (dpct >= tdec ? "MET" : "NOT MET")
        if (tge == "")
            printf "          graphs on %.1f tok/s, off: not measured (time budget)\n", tg
        else
            printf "          graphs on %.1f tok/s, off %.1f tok/s (%.1f%% roofline): graphs %+.1f%%\n",
                   tg, tge, 100 * tge / roof, (tge > 0 ? 100 * (tg / tge - 1) : 0)
        if (trace == "")
            printf "          trace cost: not measured\n"
        else
            printf "          trace on (top-5 summary, routing): %+.2f%% decode speed  target >= -2%% %s\n",
                   trace, (trace >= -2 ? "MET" : "NOT MET")
        printf "  prefill pp2048 %7.1f tok/s   %6.1f TFLOPS of %d dense BF16            %5.1f%%  target >= 50%% %s\n",
               pp, tflops, peak, ppct, (name == "r1-distill-qwen-7b" ? (ppct >= 50 ? "MET" : "NOT MET") : "(info)")
    }'
done
echo "==================================================================="
[ $tests_ok = 1 ] || exit 1
