#!/usr/bin/env bash
# Starts N dmond nodes on this machine as one cluster, node i on its own loopback address
# 127.0.0.(i+1) with the default ports, until Ctrl-C.
#
# Linux routes all of 127.0.0.0/8 to the loopback interface, so every node gets the ports a
# single dmond has (TCP/UDP 5555, HTTP 5556, cluster 5557, JSON datagrams 7689) on an address
# of its own, and nothing is left to collide: node 0 is where a lone dmond would be.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-3}
[[ $n =~ ^[1-9][0-9]*$ ]] && ((n <= 254)) ||
  { echo "usage: $0 [nodes]  (1 to 254, default 3)" >&2; exit 2; }
[[ -x build/dmond ]] || { echo "build/dmond is missing: run ./deploy/run-node.sh or cmake --build build first" >&2; exit 2; }
peers=""
for ((i = 0; i < n; i++)); do peers+="${peers:+,}127.0.0.$((i + 1)):5557"; done
pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
for ((i = 0; i < n; i++)); do
  ./build/dmond --bind "127.0.0.$((i + 1))" --node-id "node-$i" --peers "$peers" \
    --data-dir "data/node-$i" "${@:2}" 2> >(sed -u "s/^/[node-$i] /" >&2) &
  pids+=($!)
done
echo "local cluster of $n nodes on 127.0.0.1-127.0.0.$n (TCP/UDP 5555, HTTP 5556, cluster 5557 each);" \
  "curl 127.0.0.1:5556/cluster shows ownership and replicas (Ctrl-C stops)" >&2
wait
