#!/usr/bin/env bash
# A manual check, not run by CI: builds the .deb (tools/package.sh) and installs it into a fresh
# Debian 12 with apt, as a user would, then runs what it installed: glassbox-cli paths, inspect
# and a short reply on the installed demo model, glassbox --help and a screenshot tour
# offscreen. The fresh Debian is a docker debian:12 container when docker can run one, else a
# debootstrap --variant=minbase bookworm chroot (needs root; debootstrap is installed with apt).
# Recommended packages are not installed, so Depends alone must be enough.
# Usage: tools/check_deb.sh [--no-build] [--keep]   (--keep leaves the chroot in place)
# Environment: GB_DEB_MIRROR (default http://deb.debian.org/debian), GB_JOBS (for the build),
# GB_DEB_CACHE (default ~/.cache/glassbox: where the base system's packages are kept).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build=1 keep=0
for a in "$@"; do
    case "$a" in
        --no-build) build=0 ;;
        --keep) keep=1 ;;
        *) echo "usage: tools/check_deb.sh [--no-build] [--keep]" >&2; exit 2 ;;
    esac
done
sudo_cmd=""
[[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
start=$SECONDS
((build)) && "$root/tools/package.sh"
deb="$(ls "${GB_DEB_BUILD:-$root/build-deb}"/glassbox_*.deb | head -n 1)"
echo "== $(basename "$deb"): $(du -h "$deb" | cut -f1)"
dpkg-deb --field "$deb" Depends Recommends Installed-Size

# What runs inside the fresh system, as root there.
inside=$(cat <<'INSIDE'
set -eu
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -qq -o Acquire::Check-Valid-Until=false)
apt-get update -qq -o Acquire::Check-Valid-Until=false
kib() { dpkg-query -W -f='${Installed-Size}\n' | awk '{s += $1} END {print s}'; }
before=$(kib)
apt-get install "${apt_opts[@]}" --no-install-recommends /tmp/deb/*.deb >/tmp/apt.log
echo "== installed glassbox with $(grep -c '^Setting up' /tmp/apt.log) packages:" \
    "$(( ($(kib) - before) / 1024 )) MiB"
for exe in /usr/bin/glassbox /usr/bin/glassbox-cli; do
    if ldd "$exe" | grep 'not found'; then echo "FAIL: $exe misses libraries"; exit 1; fi
done
cd /tmp
moe=/usr/share/glassbox/models/glassbox-demo-moe.gguf
echo "== glassbox-cli paths"; glassbox-cli paths
echo "== glassbox-cli inspect"; glassbox-cli inspect "$moe" | head -n 12
echo "== glassbox-cli run"
glassbox-cli run -m "$moe" --chat -p '48213+9077' -n 400 --temp 0 --hide-reasoning
export XDG_RUNTIME_DIR=/tmp/runtime
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
echo "== glassbox --help (offscreen)"; QT_QPA_PLATFORM=offscreen glassbox --help | head -n 5
echo "== glassbox screenshot tour (offscreen)"
QT_QPA_PLATFORM=offscreen timeout 120 glassbox --no-history --ctx 2048 \
    --model "$moe" --screenshots /tmp/shots --prompt '742*38' 2>/tmp/gui.log ||
    { cat /tmp/gui.log; echo "FAIL: the screenshot tour"; exit 1; }
echo "$(ls /tmp/shots | wc -l) screenshots: $(ls /tmp/shots | head -n 3 | tr '\n' ' ')..."
echo "== man pages"; ls -l /usr/share/man/man1/glassbox*.1.gz
echo "== remove"; apt-get remove "${apt_opts[@]}" --purge glassbox >/dev/null
test ! -e /usr/bin/glassbox-cli && test ! -e /usr/share/glassbox && echo "removed cleanly"
INSIDE
)

have_image() {
    $sudo_cmd docker image inspect debian:12 >/dev/null 2>&1 || $sudo_cmd docker pull debian:12
}
if command -v docker >/dev/null && $sudo_cmd docker info >/dev/null 2>&1 && have_image; then
    echo "== fresh Debian 12: docker debian:12"
    $sudo_cmd docker run --rm -v "$(dirname "$deb")":/tmp/deb-src:ro debian:12 bash -c \
        "mkdir -p /tmp/deb && cp /tmp/deb-src/$(basename "$deb") /tmp/deb/ && $inside"
else
    echo "== fresh Debian 12: debootstrap --variant=minbase bookworm (no docker image)"
    command -v debootstrap >/dev/null || {
        $sudo_cmd apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq debootstrap
    }
    mirror="${GB_DEB_MIRROR:-http://deb.debian.org/debian}"
    chroot_dir="$(mktemp -d /tmp/glassbox-bookworm.XXXXXX)"
    chmod 755 "$chroot_dir"  # apt's _apt user reads its downloads in there
    cleanup() {
        for m in dev/pts dev proc; do
            mountpoint -q "$chroot_dir/$m" && $sudo_cmd umount "$chroot_dir/$m"
        done
        if ((keep)); then echo "kept $chroot_dir"; else $sudo_cmd rm -rf "$chroot_dir"; fi
    }
    trap cleanup EXIT
    t0=$SECONDS
    # The base system's packages are downloaded once and kept (debootstrap --make-tarball).
    cache="${GB_DEB_CACHE:-$HOME/.cache/glassbox}/debootstrap-bookworm-minbase.tgz"
    log=/tmp/glassbox-debootstrap.log
    if [[ ! -s "$cache" ]]; then
        mkdir -p "$(dirname "$cache")"
        $sudo_cmd debootstrap --variant=minbase --make-tarball="$cache" bookworm \
            "$chroot_dir/.make" "$mirror" >"$log" || { tail -n 20 "$log"; exit 1; }
    fi
    $sudo_cmd debootstrap --variant=minbase --unpack-tarball="$cache" bookworm "$chroot_dir" \
        "$mirror" >"$log" || { tail -n 20 "$log"; exit 1; }
    echo "== debootstrap: $((SECONDS - t0)) s, $($sudo_cmd du -sh "$chroot_dir" | cut -f1)"
    $sudo_cmd tee "$chroot_dir/etc/apt/sources.list" >/dev/null <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
    $sudo_cmd cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
    $sudo_cmd mkdir -p "$chroot_dir/tmp/deb"
    $sudo_cmd cp "$deb" "$chroot_dir/tmp/deb/"
    $sudo_cmd mount -t proc proc "$chroot_dir/proc"
    $sudo_cmd mount --bind /dev "$chroot_dir/dev"
    $sudo_cmd mount --bind /dev/pts "$chroot_dir/dev/pts"
    $sudo_cmd chroot "$chroot_dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        LANG=C.UTF-8 /bin/bash -c "$inside"
fi
echo "== check_deb: all good in $((SECONDS - start)) s"
