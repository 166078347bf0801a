#!/usr/bin/env bash
# Runs each hostile history input (tests/app/history/history_hostile_test.cpp) alone under
# /usr/bin/time -v and prints its outcome, wall time and peak memory (maximum resident set size,
# the test process included: about 10 MB of it is the process itself).
# Usage: tools/hostile_history.sh [BUILD_DIR]   (default: build; needs history_hostile_test)
set -euo pipefail
build="${1:-build}"
bin="$build/tests/history_hostile_test"
[[ -x $bin ]] || { echo "hostile_history.sh: build $bin first" >&2; exit 1; }
printf '%-36s %-6s %8s %9s  %s\n' input kind seconds peak_MB outcome
fail=0
for t in $("$bin" --gtest_list_tests | awk '/^  /{print $1}'); do
    name="${t#*/}"
    log="$(mktemp)"
    if ! /usr/bin/time -v "$bin" --gtest_filter="Inputs/HistoryHostile.$t" \
        >"$log.out" 2>"$log"; then
        fail=1
        status=FAILED
    else
        status=ok
    fi
    rss_kb="$(awk -F': ' '/Maximum resident set size/{print $2}' "$log")"
    line="$(grep '^\[hostile\]' "$log.out" || true)"
    kind="$(awk '{print $3}' <<<"$line")"
    secs="$(awk '{print $4}' <<<"$line")"
    outcome="$(cut -c 62- <<<"$line" | cut -c 1-110)"
    printf '%-36s %-6s %8s %9.1f  %s %s\n' "$name" "$kind" "$secs" "$((rss_kb))e-3" "$status" "$outcome"
    rm -f "$log" "$log.out"
done
exit $fail
