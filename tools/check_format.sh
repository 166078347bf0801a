#!/usr/bin/env bash
# Checks that every C++ and CUDA source follows .clang-format (the one style of the repository,
# shared/STYLE.md). Prints each file that differs and how to fix it; exits 1 if there is one.
# `tools/check_format.sh --fix` rewrites them in place. The style is pinned to clang-format 14
# (Debian 12's `clang-format`, installed by tools/install_deps.sh): other versions lay some
# constructs out differently.
#
# Usage: tools/check_format.sh [--fix]
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root" || exit 2

cf=""
for c in clang-format-14 clang-format; do
    if command -v "$c" > /dev/null && "$c" --version | grep -q 'version 14\.'; then cf=$c; break; fi
done
if [[ -z $cf ]]; then
    echo "check_format: clang-format 14 is needed (Debian 12: apt-get install clang-format;" \
         "tools/install_deps.sh installs it)" >&2
    exit 2
fi

if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    mapfile -t files < <(git ls-files --cached --others --exclude-standard \
        '*.cpp' '*.h' '*.cu' '*.cuh' | while read -r f; do [[ -f $f ]] && echo "$f"; done)
else
    mapfile -t files < <(find engine kernels app ui tests tools \
        \( -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) -type f)
fi

if [[ "${1:-}" == "--fix" ]]; then
    "$cf" -i "${files[@]}"
    echo "formatted ${#files[@]} files with $cf"
    exit 0
fi

bad=()
for f in "${files[@]}"; do
    "$cf" --dry-run -Werror "$f" > /dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
    echo "not formatted with $cf (.clang-format): ${#bad[@]} file(s); run tools/check_format.sh --fix" >&2
    printf '  %s\n' "${bad[@]}" >&2
    exit 1
fi
echo "${#files[@]} files follow .clang-format"
