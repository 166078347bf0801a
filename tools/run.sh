#!/usr/bin/env bash
# The main job: installs what is missing, builds, and opens the Glassbox desktop app on our own
# demo reasoning model (resources/models/glassbox-demo-moe.gguf, a DeepSeek-V3-style MoE) when
# the app was built and a display is available; otherwise the command-line tool solves one
# problem with it, streaming the reasoning and the answer, then the routing summary.
# Arguments replace the problem of the command-line demo (e.g. tools/run.sh 742*38).
# GB_CLI=1 forces the command line; GB_MODEL=PATH runs another model (a GGUF file or a
# checkpoint folder; SmolLM2 is fetched by tools/fetch_models.sh smollm2).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tools/install_deps.sh
tools/build.sh
model="${GB_MODEL:-$root/resources/models/glassbox-demo-moe.gguf}"
if [[ -x build/ui/glassbox && -z "${GB_CLI:-}" && $# -eq 0 && ( -n "${DISPLAY:-}" || -n "${WAYLAND_DISPLAY:-}" ) ]]; then
    exec build/ui/glassbox --model "$model"
fi
prompt="${*:-48213+9077}"
exec build/app/glassbox-cli run -m "$model" --chat -p "$prompt" --routing \
    -n 700 --temp 0 --trace "$root/build/last-trace.json"
