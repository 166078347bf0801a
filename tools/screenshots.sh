#!/usr/bin/env bash
# Starts the desktop app under Xvfb, drives a chat (load a model, send a prompt, inspect a token,
# open every panel) and saves a screenshot of each panel to DIR (default build/screenshots).
# Usage: tools/screenshots.sh [DIR] [MODEL] [PROMPT]   (DIR/light and DIR/dark: both themes)   MODEL defaults to our demo MoE model
# (resources/models/glassbox-demo-moe.gguf: real reasoning and routing), PROMPT to a
# multiplication; --synthetic as MODEL uses the synthetic engine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/build/screenshots}"
model="${2:-$root/resources/models/glassbox-demo-moe.gguf}"
prompt="${3:-742*38}"
app="${GB_APP:-$root/build/ui/glassbox}"
[[ -x "$app" ]] || { echo "no $app: build with Qt 6 installed (tools/install_deps.sh; tools/build.sh)" >&2; exit 1; }
command -v xvfb-run >/dev/null || { echo "xvfb-run is missing (tools/install_deps.sh installs xvfb)" >&2; exit 1; }
mkdir -p "$out"
args=(--no-history --screenshots "$out" --prompt "$prompt" --ctx 2048)
if [[ "$model" == --synthetic ]]; then args+=(--synthetic); else args+=(--model "$model"); fi
export QT_QPA_PLATFORM=xcb XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
# Every panel in each theme (GB_THEMES, default "light dark"), one folder per theme.
for theme in ${GB_THEMES:-light dark}; do
    mkdir -p "$out/$theme"
    a=("${args[@]}")
    a[2]="$out/$theme"
    timeout 120 xvfb-run -a -s "-screen 0 1500x950x24" "$app" "${a[@]}" --theme "$theme"
done
ls -1 "$out"/*/*.png
