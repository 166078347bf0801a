#!/usr/bin/env bash
# Regenerates tests/fixtures/analysis/: traces and, for each trace X.json, the golden
# X.analysis.json that tests/engine/trace/trace_analysis_test.cpp compares
# `gb::analyze_trace` against. The goldens come from tools/analyze_reference.py, the
# independent numpy implementation of engine/trace/ANALYSIS_FORMAT.md, never from Glassbox.
#
# Traces:
#   moe_mul.json    the MoE demo model on 742*38 (seed 3, temperature 0.8)
#   moe_sub.json    the MoE demo model on 52004-1837 (seed 79, temperature 1.0): it slips and
#                   corrects itself after ". Wait," (a marker step) and still reaches 50167
#   dense_add.json  the dense demo model on 48213+9077 (seed 1, temperature 0.8): no routing
#   synthetic_*.json  tools/gen_analysis_synthetic.py: every edge of the definitions
# The real replies are deterministic for a given seed (any thread count); if an engine change
# moves them, the script says so when the self-correction is gone: pick another seed (about
# one in ten of seeds 60-140 slip on 52004-1837 at temperature 1).
#
# Usage: tools/gen_analysis_fixtures.sh
#   env: GLASSBOX_CLI (default build/app/glassbox-cli, built), GB_PYTHON (python with numpy;
#        default ~/.cache/glassbox/venv/bin/python, see tools/setup_python_env.sh)
set -euo pipefail

cd "$(dirname "$0")/.."
cli="${GLASSBOX_CLI:-build/app/glassbox-cli}"
py="${GB_PYTHON:-$HOME/.cache/glassbox/venv/bin/python}"
out=tests/fixtures/analysis
moe=resources/models/glassbox-demo-moe.gguf
dense=resources/models/glassbox-demo-dense.gguf

if [[ ! -x "$cli" ]]; then
    echo "$0: $cli not found; build first (tools/build.sh) or set GLASSBOX_CLI" >&2
    exit 2
fi
mkdir -p "$out"

# A real reply: its trace, checked to have reached its answer (and, with a 4th argument, to
# hold that text in its reasoning).
real() {
    local name="$1" model="$2" seed="$3" temp="$4" prompt="$5" expect="${6:-}"
    "$cli" run -m "$model" -p "$prompt" --chat --seed "$seed" --temp "$temp" -n 400 \
        --trace "$out/$name.json" >/dev/null
    "$py" - "$out/$name.json" "$expect" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1], encoding="utf-8"))
if t["stop_reason"] != "eog" or not t["answer_text"]:
    sys.exit(f"{sys.argv[1]}: the reply did not reach its answer ({t['stop_reason']})")
if sys.argv[2] and sys.argv[2] not in t["reasoning_text"]:
    sys.exit(f"{sys.argv[1]}: no {sys.argv[2]!r} in the reasoning any more; pick another seed")
EOF
}

real moe_mul "$moe" 3 0.8 "742*38"
real moe_sub "$moe" 79 1.0 "52004-1837" "Wait,"
real dense_add "$dense" 1 0.8 "48213+9077"

"$py" tools/gen_analysis_synthetic.py "$out"

for trace in "$out"/*.json; do
    case "$trace" in *.analysis.json) continue ;; esac
    "$py" tools/analyze_reference.py "$trace" -o "${trace%.json}.analysis.json"
done
du -ch "$out"/*.json | tail -1
