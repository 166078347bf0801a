#!/usr/bin/env bash
# Fuzzes every parser with libFuzzer (+ ASan/UBSan): each tests/fuzz/NAME_fuzz.cpp harness is
# built (clang, -DGLASSBOX_FUZZ=ON, in build-fuzz/) and run on a copy of its seed corpus
# (tests/fuzz/corpus/NAME/, if any) with its dictionary (tests/fuzz/NAME.dict, if any).
#
# Usage: tools/fuzz.sh [SECONDS] [NAME...]
#   SECONDS  the time for the whole run (default 60), split evenly among the harnesses; with
#            GB_FUZZ_EACH=1 every harness gets SECONDS of its own (for a long run:
#            GB_FUZZ_EACH=1 tools/fuzz.sh 3600).
#   NAME     only these harnesses (e.g. jinja gguf); default all.
# A harness may ask for its own libFuzzer options with a line "// fuzz-options: -max_len=65536"
# (default -max_len=4096). Exits non-zero when any harness finds a crash, leak, timeout, memory
# blow-up or sanitizer report; reproducers go to build-fuzz/artifacts/NAME/ (replay:
# build-fuzz/tests/fuzz/NAME_fuzz FILE). Environment: GB_JOBS (build jobs, default 2).
set -euo pipefail
seconds="${1:-60}"
shift || true
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-fuzz"
cd "$root"

if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" == 0 ]]; then
    echo "fuzz.sh: SECONDS must be a positive whole number, got '$seconds'" >&2
    exit 2
fi

names=()
if [[ $# -gt 0 ]]; then
    for n in "$@"; do
        n="${n%_fuzz}"
        if [[ ! -f "tests/fuzz/${n}_fuzz.cpp" ]]; then
            echo "fuzz.sh: no harness tests/fuzz/${n}_fuzz.cpp" >&2
            exit 2
        fi
        names+=("$n")
    done
else
    for f in tests/fuzz/*_fuzz.cpp; do
        n="$(basename "$f" .cpp)"
        names+=("${n%_fuzz}")
    done
fi

sudo_cmd=""
[[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
apt_install() {
    echo "fuzz.sh: installing $*"
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
targets=()
for n in "${names[@]}"; do targets+=(--target "${n}_fuzz"); done
cmake --build "$build" -j "${GB_JOBS:-2}" "${targets[@]}"

if [[ "${GB_FUZZ_EACH:-0}" == 1 ]]; then
    each="$seconds"
else
    each=$((seconds / ${#names[@]}))
    ((each >= 1)) || each=1
fi

# Harnesses that write files (tokenizer.json, the history import's database) do it in TMPDIR: a
# memory file system keeps them fast.
[[ -d /dev/shm ]] && export TMPDIR=/dev/shm
failed=()
for n in "${names[@]}"; do
    # Work on a copy so that inputs the fuzzer adds do not land in the repository.
    work="$build/corpus-$n"
    mkdir -p "$work" "$build/artifacts/$n"
    if [[ -d "tests/fuzz/corpus/$n" ]]; then
        find "tests/fuzz/corpus/$n" -maxdepth 1 -type f -exec cp -n {} "$work"/ \;
    fi
    opts=(-max_len=4096)
    extra="$(sed -n 's|^// fuzz-options: *||p' "tests/fuzz/${n}_fuzz.cpp" | head -1)"
    if [[ -n "$extra" ]]; then
        read -r -a opts <<<"$extra"
    fi
    dict=()
    [[ -f "tests/fuzz/$n.dict" ]] && dict=(-dict="$root/tests/fuzz/$n.dict")
    echo "fuzz.sh: fuzzing $n for ${each}s"
    if ! "$build/tests/fuzz/${n}_fuzz" "$work" -max_total_time="$each" "${dict[@]}" \
        -timeout=10 -rss_limit_mb=2048 "${opts[@]}" -print_final_stats=1 \
        -artifact_prefix="$build/artifacts/$n/" 2>"$build/$n.log"; then
        tail -n 60 "$build/$n.log" >&2
        failed+=("$n")
    else
        grep -E "^stat::number_of_executed_units|^#[0-9]+ +DONE" "$build/$n.log" | tail -n 2 || true
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: FINDINGS in: ${failed[*]} (reproducers in $build/artifacts/)" >&2
    exit 1
fi
echo "fuzz.sh: ${#names[@]} harnesses, ${each}s each, no findings"
