#!/usr/bin/env bash
# Installs every Debian 12 package dmon's build, server and tests need; safe to run again.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git clang-format
  libcaf-dev
  libprotobuf-dev protobuf-compiler
  libboost-dev libboost-system-dev
  librocksdb-dev libre2-dev
  pybind11-dev python3 python3-dev libpython3.11-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3-pytest python3-protobuf
  riemann-c-client
  chromium python3-websockets python3-prometheus-client curl
  # deploy/rehearse.sh: network namespaces and reading the manifests
  iproute2 python3-yaml
  # partition tests (tests/integration/test_partition.py): nftables drops inside namespaces
  nftables
)

# The deployment tests validate the manifests with npm packages. A machine that already
# has node and npm (e.g. from another vendor's package) keeps them.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists; an old list can name versions the mirror no longer has.
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
