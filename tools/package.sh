#!/usr/bin/env bash
# Builds the Debian package: build-deb/glassbox_<version>-1_<arch>.deb, to install with
#     sudo apt install ./build-deb/glassbox_*.deb
# A package runs on other machines, so it is compiled for x86-64-v3 (AVX2, FMA, F16C: CPUs
# since 2013-2015) rather than -march=native, without CUDA (the toolkit is not a Debian package)
# and without the tests; its dependencies are computed by dpkg-shlibdeps.
# Environment: GB_JOBS (default 2); GB_DEB_BUILD (default build-deb). Extra arguments go to cmake.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${GB_DEB_BUILD:-$root/build-deb}"
"$root/tools/install_deps.sh"
arch_flags=(-DGLASSBOX_NATIVE=OFF)
[[ "$(uname -m)" == x86_64 ]] && arch_flags+=(-DGLASSBOX_ARCH=x86-64-v3)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
    -DGLASSBOX_CUDA=OFF -DGLASSBOX_TESTS=OFF -DGLASSBOX_FUZZ=OFF -DGLASSBOX_APP=ON \
    "${arch_flags[@]}" "$@"
cmake --build "$build" -j "${GB_JOBS:-2}"
rm -f "$build"/glassbox_*.deb
(cd "$build" && cpack -G DEB)
deb="$(ls "$build"/glassbox_*.deb)"
dpkg-deb --field "$deb" Package Version Architecture Installed-Size Depends Recommends
ls -l "$deb"
