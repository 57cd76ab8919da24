#!/usr/bin/env bash
# Builds the dmon image from deploy/Dockerfile with Debian's buildah, offline apart from the
# Debian mirror: the debian:bookworm and bookworm-slim bases are made locally with debootstrap
# when missing, so no registry is needed. Then runs `dmond --version` in the image.
# Not part of the test run: it compiles dmond inside the image (as long as a full build).
#
# usage: deploy/build-image.sh [tag] [oci-archive path]
#   tag defaults to localhost/dmon:<project version>; with an archive path the image is also
#   written there (load it with `ctr -n k8s.io images import`, `podman load` or `docker load`).
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^project(dmon VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
tag=${1:-localhost/dmon:$version}
archive=${2:-}

if [[ $(id -u) -ne 0 ]]; then
  echo "build-image: run as root (buildah with vfs storage and chroot isolation)" >&2
  exit 1
fi
missing=()
for cmd in buildah debootstrap; do command -v "$cmd" >/dev/null || missing+=("$cmd"); done
if ((${#missing[@]})); then
  echo "build-image: installing buildah debootstrap" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah debootstrap
fi
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs} BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}

# The mirror apt already uses here, for debootstrap.
mirror=$(sed -n 's/^URIs: *\(http[^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
[[ -n $mirror ]] || mirror=$(awk '$1 == "deb" && $2 ~ /^http/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

# base <image name>: a minbase bookworm root filesystem committed as <image name>.
base() {
  if buildah inspect --type image "$1" >/dev/null 2>&1; then return; fi
  if [[ ! -d $work/rootfs ]]; then
    echo "build-image: debootstrap bookworm from $mirror" >&2
    debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >/dev/null
    rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
  fi
  local c m
  c=$(buildah from scratch)
  m=$(buildah mount "$c")
  cp -a "$work/rootfs/." "$m/"
  buildah umount "$c" >/dev/null
  buildah commit -q "$c" "$1" >/dev/null
  buildah rm "$c" >/dev/null
}
base docker.io/library/debian:bookworm
base docker.io/library/debian:bookworm-slim

# Docker format: the OCI image format has no SHELL, and buildah then ignores the Dockerfile's
# SHELL line (with a warning), so its RUN steps would lose pipefail.
buildah bud --pull=never --layers --format docker -f deploy/Dockerfile -t "$tag" .

c=$(buildah from "$tag")
trap 'buildah rm "$c" >/dev/null; cleanup' EXIT
echo "build-image: $(buildah run "$c" -- /opt/dmon/bin/dmond --version)" \
     "user=$(buildah inspect --format '{{.OCIv1.Config.User}}' "$tag")"
if [[ -n $archive ]]; then
  buildah push "$tag" "oci-archive:$archive:$tag"
  echo "build-image: wrote $archive" >&2
fi
echo "build-image: built $tag"
