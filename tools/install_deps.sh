#!/usr/bin/env bash
# Installs the Debian packages Glassbox needs to build and test, skipping what is present.
# Usage: tools/install_deps.sh [--fuzz]   (--fuzz adds clang + libFuzzer runtime)
set -euo pipefail

pkgs=(cmake g++ ninja-build pkg-config libgtest-dev libgmock-dev libpcre2-dev libsqlite3-dev libzstd-dev python3 python3-pip unzip)
# Remote inference servers (app/remote): HTTP and TLS through libcurl.
pkgs+=(libcurl4-openssl-dev)
# The source style check (tools/check_format.sh) pins clang-format 14, Debian 12's.
pkgs+=(clang-format)
# The desktop app: Qt 6 Widgets/Charts/Test (qt6-base-dev has Widgets and Test), the GL headers
# Qt's CMake files ask for, and Xvfb for tools/screenshots.sh.
pkgs+=(qt6-base-dev qt6-base-dev-tools qt6-charts-dev libgl-dev xvfb xauth)
# Qt SVG: charts and heatmaps exported as SVG (the app builds without it, PNG only).
pkgs+=(qt6-svg-dev)
# Installing and packaging (tools/package.sh, the Install.Layout test): dpkg-shlibdeps (dpkg-dev)
# computes the .deb's dependencies; desktop-file-validate, groff and appstreamcli check the
# launcher, the man pages and the AppStream file. (librsvg2-bin, to render the icon again, is
# installed by tools/gen_icons.sh.)
pkgs+=(dpkg-dev desktop-file-utils groff-base appstream)
if [[ "${1:-}" == "--fuzz" ]]; then pkgs+=(clang libclang-rt-14-dev); fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    sudo_cmd=""
    [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi
