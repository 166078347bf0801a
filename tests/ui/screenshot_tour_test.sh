#!/usr/bin/env bash
# The screenshot tour as a smoke test: the real app under Xvfb on our demo MoE model chats,
# inspects, replays, resamples, opens the library and every panel, in both themes; every
# screenshot must be written (a crash or a step that fails ends the tour early). Skips (77)
# without xvfb-run.
# Usage: screenshot_tour_test.sh APP SOURCE_DIR
set -euo pipefail
app="$1"
src="$2"
command -v xvfb-run >/dev/null || { echo "xvfb-run missing: skipped"; exit 77; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
GB_APP="$app" GB_THEMES="light dark" "$src/tools/screenshots.sh" "$out" >/dev/null
want=(0-welcome 1-chat-streaming 2-chat 3-inspector 3b-reasoning-map 3c-what-if 4-routing
      4b-experts 5-hardware 6-settings-context 6b-anatomy 6c-anatomy-deepseek 7-model-dialog
      8-presenter-replay 9-logit-lens 10-step-mode 11-resample 12-library 13-download
      14-narrow-window 15-compare-precise)
missing=0
for theme in light dark; do
    for name in "${want[@]}"; do
        f="$out/$theme/$name.png"
        if [[ ! -s "$f" || $(stat -c %s "$f") -lt 8000 ]]; then
            echo "missing or empty: $theme/$name.png"
            missing=1
        fi
    done
done
[[ $missing -eq 0 ]] && echo "tour: ${#want[@]} screenshots in each theme"
exit $missing
