#!/usr/bin/env bash
# Fuzzes the GGUF reader with libFuzzer (+ ASan/UBSan) for SECONDS (default 60) on a copy of the
# seed corpus. Exits non-zero when the fuzzer finds a crash, leak, timeout or sanitizer report;
# the reproducer is left in build-fuzz/artifacts/ (replay: build-fuzz/tests/fuzz/gguf_fuzz FILE).
# Usage: tools/fuzz_gguf.sh [SECONDS]      Environment: GB_JOBS (build jobs, default 2)
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-fuzz"
cd "$root"

sudo_cmd=""
[[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
apt_install() {
    echo "fuzz_gguf.sh: installing $*"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@"
}

command -v clang++ >/dev/null || apt_install clang
# libFuzzer ships in the compiler-rt package of the clang version (libclang-rt-N-dev on Debian).
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' \
    >"$probe/probe.cpp"
if ! clang++ -fsanitize=fuzzer,address,undefined "$probe/probe.cpp" -o "$probe/probe" 2>/dev/null; then
    major="$(clang++ -dumpversion | cut -d. -f1)"
    apt_install "libclang-rt-${major}-dev"
    clang++ -fsanitize=fuzzer,address,undefined "$probe/probe.cpp" -o "$probe/probe"
fi

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DGLASSBOX_FUZZ=ON -DGLASSBOX_CUDA=OFF -DGLASSBOX_NATIVE=OFF >/dev/null
cmake --build "$build" -j "${GB_JOBS:-2}" --target gguf_fuzz

# Work on a copy so that inputs the fuzzer adds do not land in the repository.
work="$build/corpus-gguf"
mkdir -p "$work" "$build/artifacts"
cp -n "$root"/tests/fuzz/corpus/gguf/* "$work"/
echo "fuzz_gguf.sh: fuzzing the GGUF reader for ${seconds}s"
"$build/tests/fuzz/gguf_fuzz" "$work" -max_total_time="$seconds" -dict="$root/tests/fuzz/gguf.dict" \
    -timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/"
