#!/usr/bin/env bash
# Starts N dmond nodes on this machine as one cluster (ports 5555+10i ...), until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-3}
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [nodes]  (a positive number, default 3)" >&2; exit 2; }
[[ -x build/dmond ]] || { echo "build/dmond is missing: run ./deploy/run-node.sh or cmake --build build first" >&2; exit 2; }
peers=""
for ((i = 0; i < n; i++)); do peers+="${peers:+,}127.0.0.1:$((5557 + 10 * i))"; done
pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
for ((i = 0; i < n; i++)); do
  ./build/dmond --node-id "node-$i" --tcp-port $((5555 + 10 * i)) --udp-port $((5555 + 10 * i)) \
    --json-udp-port $((7689 + 10 * i)) --http-port $((5556 + 10 * i)) \
    --peer-port $((5557 + 10 * i)) --peers "$peers" --data-dir "data/node-$i" "${@:2}" \
    2> >(sed -u "s/^/[node-$i] /" >&2) &
  pids+=($!)
done
echo "local cluster of $n nodes: TCP/UDP 5555+10i, HTTP 5556+10i, peers $peers; curl localhost:5556/cluster shows ownership and replicas (Ctrl-C stops)" >&2
wait
