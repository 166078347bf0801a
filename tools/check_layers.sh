#!/usr/bin/env bash
# Checks that the layers hold (shared/DESIGN.md): kernels → engine → app → ui, and nothing
# includes a layer above it. kernels/ and engine/ never include Qt; app/cli (glassbox-cli) never
# includes Qt or the Qt app layer; app/ never includes ui/ (the desktop app's composition root is
# ui/main.cpp). Prints every offending include with its file and line and exits 1 if there is
# one. Run by tools/test.sh.
#
# Usage: tools/check_layers.sh [ROOT]   (default: the repository)
set -uo pipefail
root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$root" || exit 2

bad=0
# check DIR PATTERN WHY [EXCLUDE_DIR]: no source file under DIR may have an #include matching
# PATTERN (an extended regex on the include's target).
check() {
    local dir=$1 pattern=$2 why=$3 exclude=${4:-}
    [[ -d $dir ]] || return 0
    local hits
    hits=$(grep -rnE --include='*.h' --include='*.cpp' --include='*.cu' --include='*.cuh' \
        ${exclude:+--exclude-dir="$exclude"} \
        "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($pattern)" "$dir")
    if [[ -n $hits ]]; then
        echo "layer violation: $why" >&2
        echo "$hits" | sed 's/^/  /' >&2
        bad=1
    fi
}

qt='Q[A-Za-z]*[>"]|Qt[A-Za-z]*/'
check kernels "engine/|app/|ui/" "kernels/ includes a layer above it (engine/, app/ or ui/)"
check kernels "$qt" "kernels/ includes Qt"
check engine "app/|ui/" "engine/ includes a layer above it (app/ or ui/)"
check engine "$qt" "engine/ includes Qt"
check app "ui/" "app/ includes ui/ (only ui/main.cpp, the composition root, wires app to ui)"
check app/cli "$qt" "glassbox-cli (app/cli/) includes Qt"
check app/cli "app/[a-z_]+\.h" "glassbox-cli (app/cli/) includes the Qt app layer"
check app/history "$qt" "the history store (app/history/) includes Qt"
check app/platform "$qt" "app/platform/ (data paths, CPU check; linked by glassbox-cli) includes Qt"

if [[ $bad == 0 ]]; then
    echo "layers hold: kernels → engine → app → ui"
fi
exit $bad
