#!/usr/bin/env bash
# The CAF middleman hop's floor as docs/performance.md reports it: collectd-like events, then
# dmond's forward shape (dmon-load's events, a detached receiver that decodes) with CAF's default
# middleman workers and with none (dmond's setting). Both processes at DMON_HOP_CPU (0.25) CPU.
# Usage: bench/caf_hop.sh [build-dir]   (as root, for the cgroups; builds nothing)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-build}")/dmon-caf-hop
[[ -x $bin ]] || { echo "caf_hop.sh: $bin missing; cmake --build build --target dmon-caf-hop" >&2; exit 2; }
cpu=${DMON_HOP_CPU:-0.25}
secs=${DMON_HOP_SECONDS:-2}
"$bin" --cpu "$cpu" --seconds "$secs"
for workers in -1 0; do
  echo
  "$bin" --cpu "$cpu" --seconds "$secs" --event-bytes 46 --detached --decode \
    --batch-sizes 100,400,1000 --in-flight 1 --mm-workers "$workers"
done
