#!/usr/bin/env bash
# Installs dependencies, builds dmond, and runs one node on defaults (example streams, data in ./data).
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target dmond
exec ./build/dmond "$@"
