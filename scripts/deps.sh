#!/bin/bash
# SPDX-License-Identifier: MIT
# Install the Debian packages ringkit needs to build and test, when missing.
# Usage: scripts/deps.sh [build|test|all]   (default: all)
set -euo pipefail

build_pkgs=(gcc clang meson ninja-build pkg-config libplist-dev libkmod-dev libudev-dev
            libseccomp-dev libssl-dev libsqlite3-dev libdbus-1-dev libusb-1.0-0-dev libmnl-dev)
test_pkgs=(kmod linux-image-amd64 libclang-rt-14-dev libplist-utils python3 qemu-system-x86 busybox-static dbus-daemon iptables)

want=("${build_pkgs[@]}")
case "${1:-all}" in
build) ;;
test | all) want+=("${test_pkgs[@]}") ;;
*) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
                missing+=("$p")
        fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "ringkit: installing Debian packages: ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
        SUDO=sudo
else
        SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
