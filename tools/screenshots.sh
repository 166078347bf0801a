#!/usr/bin/env bash
# Starts the desktop app under Xvfb, drives a chat (load a model, send a prompt, inspect a token,
# open every panel) and saves a screenshot of each panel to DIR (default build/screenshots).
# Usage: tools/screenshots.sh [DIR] [MODEL]   MODEL defaults to the tiny Qwen3-MoE fixture (it
# has routing; its text is noise); --synthetic as MODEL uses the synthetic engine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/build/screenshots}"
model="${2:-$root/tests/fixtures/models/tiny_qwen3moe.gguf}"
app="${GB_APP:-$root/build/ui/glassbox}"
[[ -x "$app" ]] || { echo "no $app: build with Qt 6 installed (tools/install_deps.sh; tools/build.sh)" >&2; exit 1; }
command -v xvfb-run >/dev/null || { echo "xvfb-run is missing (tools/install_deps.sh installs xvfb)" >&2; exit 1; }
mkdir -p "$out"
args=(--no-history --screenshots "$out" --ctx 1024)
if [[ "$model" == --synthetic ]]; then args+=(--synthetic); else args+=(--model "$model"); fi
export QT_QPA_PLATFORM=xcb XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
timeout 120 xvfb-run -a -s "-screen 0 1500x950x24" "$app" "${args[@]}"
ls -1 "$out"/*.png
