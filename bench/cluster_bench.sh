#!/usr/bin/env bash
# Acked TCP throughput into node 0 of a loopback cluster: 1 node, 3 nodes without replicas,
# 3 nodes with replication 2 (index() only). All nodes share this machine's cores, so the
# figures show the cost of forwarding and replication, not scaling.
# Usage: bench/cluster_bench.sh [seconds] (from the source root, after building dmond and dmon-load)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
work=$(mktemp -d /tmp/dmon-cluster-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
printf 'from dmon import index\nstream = index()\n' > "$work/bench_streams.py"

run() {  # name nodes replication
  local name=$1 n=$2 rf=$3 base=$((20000 + RANDOM % 20000)) peers="" args
  pids=()
  for ((i = 0; i < n; i++)); do peers+="${peers:+,}127.0.0.1:$((base + 10 * i + 3))"; done
  for ((i = 0; i < n; i++)); do
    args=(--node-id "node-$i" --tcp-port $((base + 10 * i)) --udp-port $((base + 10 * i))
          --json-udp-port $((base + 10 * i + 1)) --http-port $((base + 10 * i + 2))
          --data-dir "$work/$name-$i" --python-path "$work" --streams bench_streams
          --stats-interval 0 --instrumentation-interval 0)
    ((n > 1)) && args+=(--peer-port $((base + 10 * i + 3)) --peers "$peers" --replication "$rf")
    ./build/dmond "${args[@]}" > /dev/null 2> "$work/$name-$i.log" &
    pids+=($!)
  done
  for ((t = 0; t < 300; t++)); do
    local ok=1
    for ((i = 0; i < n; i++)); do
      curl -sf "http://127.0.0.1:$((base + 10 * i + 2))/readyz" > /dev/null || ok=0
    done
    ((ok)) && break
    sleep 0.1
  done
  echo "== $name ($n node(s), replication $rf)"
  ./build/dmon-load --port "$base" --connections 4 --pipeline 8 --events-per-msg 100 \
    --hosts 1000 --services 10 --duration "$secs" 2>&1 | grep -iE "events/s|rate|latency" | head -4
  curl -s "http://127.0.0.1:$((base + 2))/metrics" | grep -E "^dmon_cluster_(forwarded_out|replicated_out|replication_failures)_total" || true
  for p in "${pids[@]}"; do kill -TERM "$p"; done
  wait "${pids[@]}" 2>/dev/null || true
}

run single 1 1
run three-no-replicas 3 1
run three-replicated 3 2
