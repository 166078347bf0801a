#!/usr/bin/env bash
# Creates (once) the Python venv for Glassbox's developer tools and fixture generators, and
# installs what they need. Idempotent: re-running only installs what is missing.
#
# Usage: tools/setup_python_env.sh [--full]
#   light:  numpy gguf tokenizers jinja2 sentencepiece (quant/tokenizer fixtures, model fetching)
#   --full: also torch transformers safetensors llama-cpp-python[server] (tiny-model and
#           llama.cpp references, benchmark peer, the server of the remote end-to-end test).
#           llama-cpp-python builds from source: needs cmake + g++
#           and takes several minutes.
#   env:    GB_VENV (default $HOME/.cache/glassbox/venv)
# Prints the venv's python path last, so `GB_PYTHON=$(tools/setup_python_env.sh | tail -1)`.
set -euo pipefail

venv="${GB_VENV:-$HOME/.cache/glassbox/venv}"
full=0
[[ "${1:-}" == "--full" ]] && full=1

sudo_cmd=""
[[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"

apt_install() {
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >&2
}

if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating venv $venv" >&2
    mkdir -p "$(dirname "$venv")"
    if ! python3 -m venv "$venv" >&2; then
        # Debian splits venv (ensurepip) into its own package.
        rm -rf "$venv"
        pyver=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
        apt_install python3-venv "python$pyver-venv" || apt_install python3-venv
        python3 -m venv "$venv" >&2
    fi
fi
py="$venv/bin/python"

# Installs each named distribution unless pip already has it.
pip_ensure() {
    local missing=()
    for pkg in "$@"; do
        "$py" -m pip show -q "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        echo "pip installing: ${missing[*]}" >&2
        "$py" -m pip install -q "${missing[@]}" >&2
    fi
}

pip_ensure numpy gguf tokenizers jinja2 sentencepiece

if ((full)); then
    pip_ensure torch transformers safetensors
    if ! "$py" -m pip show -q llama_cpp_python >/dev/null 2>&1; then
        need=()
        command -v cmake >/dev/null || need+=(cmake)
        command -v g++ >/dev/null || need+=(g++)
        ((${#need[@]})) && apt_install "${need[@]}"
        # Built from the sdist; parallelism is kept low for small machines.
        echo "building llama-cpp-python (several minutes)" >&2
        CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
            "$py" -m pip install -q "llama-cpp-python[server]" >&2
    fi
    # The server's own dependencies (the remote end-to-end test starts it).
    "$py" -c "import uvicorn, fastapi, sse_starlette, starlette_context, pydantic_settings" \
        2>/dev/null || "$py" -m pip install -q "llama-cpp-python[server]" >&2
fi

echo "$py"
