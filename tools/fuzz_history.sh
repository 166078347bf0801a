#!/usr/bin/env bash
# Fuzzes the trace readers (JSON, binary) and the history import with libFuzzer (+ ASan/UBSan),
# SECONDS each (default 60), on copies of their seed corpora (tests/fuzz/make_history_corpus.py).
# Exits non-zero when a fuzzer finds a crash, leak, timeout or sanitizer report; the reproducer
# is left in build-fuzz/artifacts/ (replay: build-fuzz/tests/fuzz/<name>_fuzz FILE).
# Usage: tools/fuzz_history.sh [SECONDS] [NAME...]    Environment: GB_JOBS (build jobs, default 2)
# Needs clang with libFuzzer (tools/fuzz_gguf.sh installs it).
set -euo pipefail
seconds="${1:-60}"
shift || true
names=("$@")
[[ ${#names[@]} -eq 0 ]] && names=(trace_json trace_binary history_import)
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-fuzz"
cd "$root"

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DGLASSBOX_FUZZ=ON -DGLASSBOX_CUDA=OFF -DGLASSBOX_NATIVE=OFF >/dev/null
cmake --build "$build" -j "${GB_JOBS:-2}" --target "${names[@]/%/_fuzz}"

# The import fuzzer's database lives in TMPDIR: a memory file system keeps it fast.
[[ -d /dev/shm ]] && export TMPDIR=/dev/shm
for name in "${names[@]}"; do
    work="$build/corpus-$name"
    mkdir -p "$work" "$build/artifacts"
    cp -n "$root"/tests/fuzz/corpus/"$name"/* "$work"/
    echo "fuzz_history.sh: fuzzing $name for ${seconds}s"
    "$build/tests/fuzz/${name}_fuzz" "$work" -max_total_time="$seconds" \
        -dict="$root/tests/fuzz/$name.dict" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$build/artifacts/$name-"
done
