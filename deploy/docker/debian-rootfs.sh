#!/usr/bin/env bash
# Makes a Debian base image without a registry: debootstraps a minimal
# Debian with the given packages on the host, then imports the tree as an
# image.
#
#   deploy/docker/debian-rootfs.sh IMAGE [PACKAGE...]
#   deploy/docker/debian-rootfs.sh alexis/debian-sshd:bookworm openssh-server
#
# Packages are installed on the host side (debootstrap --include), so this
# needs only the host's access to the Debian mirror, not network access from
# inside containers or builds. Needs root and debootstrap. The release is
# DEBIAN_SUITE (default bookworm), the mirror DEBIAN_MIRROR (default
# http://deb.debian.org/debian).
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 IMAGE [PACKAGE...]" >&2
  exit 2
fi
image=$1
shift
packages=(ca-certificates "$@")
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${DEBIAN_SUITE:-bookworm}

if [ "$(id -u)" -ne 0 ]; then
  echo "debian-rootfs: needs root (debootstrap)" >&2
  exit 1
fi
command -v debootstrap >/dev/null || { echo "debian-rootfs: debootstrap missing: apt-get install -y debootstrap" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/alexis-rootfs.XXXXXX")
cleanup() {
  # debootstrap may leave /proc and /sys mounted inside the tree on failure.
  for m in proc sys dev/pts dev; do
    mountpoint -q "$dir/rootfs/$m" 2>/dev/null && umount -l "$dir/rootfs/$m"
  done
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 143' INT TERM

IFS=,
include="${packages[*]}"
unset IFS
echo "debian-rootfs: debootstrap $suite (minbase + $include) for $image"
if ! debootstrap --variant=minbase --include="$include" "$suite" "$dir/rootfs" "$mirror" >"$dir/debootstrap.log" 2>&1; then
  tail -20 "$dir/debootstrap.log" >&2
  echo "debian-rootfs: debootstrap failed" >&2
  exit 1
fi
# No package caches or lists in the image; apt-get update restores them.
rm -rf "$dir"/rootfs/var/cache/apt/archives/*.deb "$dir"/rootfs/var/lib/apt/lists/*
tar -C "$dir/rootfs" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' \
  --message "debootstrap --variant=minbase --include=$include $suite" - "$image" >/dev/null
echo "debian-rootfs: imported $image"
