#!/usr/bin/env bash
# Build the Debian 12 base image from Debian's own package archive, for a machine that
# reaches the Debian mirror but not a container registry (debian:bookworm-slim cannot
# be pulled). Needs root and debootstrap; the result is imported with the engine given.
#
#   sudo bash docker/build-base.sh podman|docker [IMAGE]   (default IMAGE:
#       localhost/ccdphot-base:bookworm), then
#   docker build --build-arg BASE_IMAGE=localhost/ccdphot-base:bookworm -t ccdphot .
#
# The root file system is debootstrap's `minbase` variant (essential packages and apt,
# about 85 MB) with the apt sources of the official image (bookworm, -updates,
# -security) and no documentation, like debian:bookworm-slim.
set -euo pipefail
engine=${1:?usage: build-base.sh podman|docker [IMAGE]}
image=${2:-localhost/ccdphot-base:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

command -v debootstrap >/dev/null || {
    echo "build-base: debootstrap is missing (apt-get install debootstrap)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "build-base: debootstrap needs root" >&2; exit 2; }

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/ccdphot-base.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT
echo "build-base: debootstrap --variant=minbase bookworm from $mirror"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" > "$rootfs.log" 2>&1 \
    || { tail -20 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"

rm -f "$rootfs/etc/apt/sources.list"
cat > "$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb \
       "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
       "$rootfs"/usr/share/locale/*

tar --numeric-owner -C "$rootfs" -c . | "$engine" import \
    --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' - "$image" >/dev/null
echo "build-base: imported $image"
