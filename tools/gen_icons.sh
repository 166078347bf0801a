#!/usr/bin/env bash
# Renders the application icon (resources/icons/glassbox.svg; glassbox-small.svg for 16 and 24 px)
# to the PNG sizes of the hicolor theme, into resources/icons/png/. The PNGs are committed, so a
# build needs no SVG renderer; run this after changing an SVG. Installs librsvg2-bin if missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
icons="$root/resources/icons"
if ! command -v rsvg-convert >/dev/null; then
    sudo_cmd=""
    [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq librsvg2-bin
fi
mkdir -p "$icons/png"
for px in 16 24 32 48 64 128 256 512; do
    svg="$icons/glassbox.svg"
    ((px <= 24)) && svg="$icons/glassbox-small.svg"
    rsvg-convert --width "$px" --height "$px" "$svg" --output "$icons/png/glassbox-$px.png"
    echo "$icons/png/glassbox-$px.png"
done
