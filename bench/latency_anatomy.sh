#!/usr/bin/env bash
# Where the ack latency at half load goes: runs `stream = index()` closed loop for its peak,
# then open loop at half of it (100 events/frame, as issue 10's latency target), and splits
# each message's latency into the generator's own lateness (due -> handed to the socket,
# including waiting for a free slot in its pipeline), the socket-to-ack time, and dmond's own
# span from a decoded read to its rendered ack (its /metrics histogram); then measures the
# gaps the machine itself takes from a spinning thread (dmon-cpu-gaps).
# Usage: bench/latency_anatomy.sh [build-dir]   Env: DMON_ANATOMY_RUNS (3), DMON_ANATOMY_SECONDS
# (5), DMON_ANATOMY_PIPELINE (16), DMON_ANATOMY_RATE (events/s; default half the peak).
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
runs=${DMON_ANATOMY_RUNS:-3}
secs=${DMON_ANATOMY_SECONDS:-5}
pipeline=${DMON_ANATOMY_PIPELINE:-16}
for bin in dmond dmon-load dmon-cpu-gaps; do
  [[ -x $build/$bin ]] || { echo "latency_anatomy.sh: $build/$bin missing" >&2; exit 2; }
done
work=$(mktemp -d /tmp/dmon-anatomy.XXXXXX)
pid=""
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_dmond() {
  rm -rf "$work/data"
  tcp=$(free_port) http=$(free_port)
  "$build/dmond" --tcp-port "$tcp" --udp-port 0 --json-udp-port 0 --http-port "$http" \
    --data-dir "$work/data" --streams index_only --python-path bench/streams >"$work/dmond.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q "dmond ready" "$work/dmond.log" && return; sleep 0.05; done
  echo "latency_anatomy.sh: dmond did not start:" >&2; cat "$work/dmond.log" >&2; exit 1
}
stop_dmond() { kill "$pid"; wait "$pid" || true; pid=""; }

load() {  # args: extra dmon-load options
  "$build/dmon-load" --port "$tcp" --duration "$secs" --events 10000000000 --proto tcp \
    --connections 1 --pipeline "$pipeline" --events-per-msg 100 --quiet "$@"
}

rate=${DMON_ANATOMY_RATE:-}
if [[ -z $rate ]]; then
  start_dmond
  peak=$(load | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["events_per_s"]))')
  stop_dmond
  rate=$((peak / 2))
  echo "index() closed loop: $peak events/s; open loop at half: $rate events/s, pipeline $pipeline"
fi

for r in $(seq "$runs"); do
  start_dmond
  curl -s "http://127.0.0.1:$http/metrics" >"$work/m0"
  load --rate "$rate" --timeline "$work/timeline" >/dev/null
  curl -s "http://127.0.0.1:$http/metrics" >"$work/m1"
  stop_dmond
  python3 - "$work" "$r" <<'PY'
import re, sys
work, run = sys.argv[1], sys.argv[2]
rows = [tuple(map(float, l.split())) for l in open(f"{work}/timeline").readlines()[1:]]
def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] / 1000
def line(name, v):
    return f"  {name:<34} p50 {q(v,.5):6.2f}  p99 {q(v,.99):6.2f}  p99.9 {q(v,.999):6.2f} ms"
print(f"run {run}: {len(rows)} messages")
print(line("latency (from the due time)", [r[2] for r in rows]))
print(line("generator late (due -> socket)", [r[1] for r in rows]))
print(line("socket -> ack", [r[2] - r[1] for r in rows]))
def hist(f):
    out = {}
    for l in open(f):
        m = re.match(r'dmon_tcp_ack_duration_seconds_bucket\{le="([^"]+)"\} (\d+)', l)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out
a, b = hist(f"{work}/m0"), hist(f"{work}/m1")
total = b["+Inf"] - a.get("+Inf", 0)
shares = " ".join(f"<= {float(k)*1000:g} ms {100*(b[k]-a.get(k,0))/total:.2f} %"
                  for k in ["5e-04", "0.001", "0.0025", "0.005"])
print(f"  dmond, decoded read -> ack ({total} reads): {shares}")
PY
done
echo "the machine's own gaps (a spinning thread per CPU, nothing else running):"
"$build/dmon-cpu-gaps" --duration "$secs"
