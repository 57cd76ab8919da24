#!/usr/bin/env bash
# bench/run.sh: every issue-8 and issue-10 scenario against dmond and the decode-and-ack limit (dmon-ackd); prints a Markdown table.
#
# Usage: bench/run.sh [BUILD_DIR]        (default ./build; builds nothing)
#   DMON_BENCH_SECONDS   seconds per load run (default 4; runs are bounded by this and an event cap)
#   DMON_BENCH_ONLY      space-separated scenario names to run (default: all)
#   DMON_BENCH_1M=0      skip the 1M-key index (RSS and reopen times; on by default)
#   DMON_BENCH_UDP_RATE, DMON_BENCH_JSON_RATE   offered datagram rates (default 300000, 150000 events/s)
# Everything runs on 127.0.0.1 with free ports, in temp dirs; whatever the script started is
# killed on exit. The table also goes to bench/results/<UTC time>.md (gitignored).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-./build}" && pwd)
secs=${DMON_BENCH_SECONDS:-4}
only=${DMON_BENCH_ONLY:-}
for bin in dmond dmon-ackd dmon-load dmon-python-stage; do
  [[ -x $build/$bin ]] || { echo "run.sh: $build/$bin missing; build it first:" \
    "cmake --build $build -j1 --target dmond dmon-load dmon-ackd dmon-python-stage" >&2; exit 2; }
done

work=$(mktemp -d /tmp/dmon-bench.XXXXXX)
records=$work/records.jsonl
: >"$records"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  sleep 0.2
  for p in "${pids[@]}"; do
    kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

clk_tck=$(getconf CLK_TCK)
max_events=$((secs * 20000000))  # the duration, not this cap, ends a normal run

wanted() { [[ -z $only || " $only " == *" $1 "* ]]; }

# cpu_seconds PID: user+system CPU seconds from /proc/PID/stat (fields 14 and 15).
cpu_seconds() {
  sed 's/^.*) //' "/proc/$1/stat" | awk -v t="$clk_tck" '{printf "%.2f", ($12 + $13) / t}'
}
# busy_seconds: CPU seconds the whole machine spent outside idle/iowait (from /proc/stat).
busy_seconds() {
  awk -v t="$clk_tck" '/^cpu / {printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / t}' /proc/stat
}
# peak_rss_mb PID: VmHWM, the process's peak resident set.
peak_rss_mb() { awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
# udp_kernel_drops PORT: datagrams the kernel dropped on that bound UDP port (receive buffer full).
udp_kernel_drops() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v p=":$hex" '$2 ~ p"$" {d += $NF} END {print d + 0}' /proc/net/udp
}

# start_server NAME KIND [ARGS...]: starts dmond or dmon-ackd on free ports in its own temp
# dir; sets srv_pid, srv_log, tcp_port, udp_port, json_port.
start_server() {
  local name=$1 kind=$2
  shift 2
  local dir=$work/$name
  mkdir -p "$dir"
  srv_log=$dir/server.log
  if [[ $kind == dmond ]]; then
    "$build/dmond" --tcp-port 0 --udp-port 0 --json-udp-port 0 --http-port 0 --data-dir "$dir/data" \
      --stats-interval 1 "$@" >"$srv_log" 2>&1 &
  else
    "$build/dmon-ackd" --tcp-port 0 --udp-port 0 --json-udp-port 0 "$@" >"$srv_log" 2>&1 &
  fi
  srv_pid=$!
  pids+=("$srv_pid")
  local i
  for i in $(seq 100); do
    grep -q ' ready: ' "$srv_log" 2>/dev/null && break
    kill -0 "$srv_pid" 2>/dev/null || { cat "$srv_log" >&2; echo "run.sh: $kind died" >&2; exit 1; }
    sleep 0.1
  done
  grep -q ' ready: ' "$srv_log" || { echo "run.sh: $kind not ready in 10 s" >&2; exit 1; }
  tcp_port=$(sed -n 's/.* ready: tcp=[0-9.]*:\([0-9]*\).*/\1/p' "$srv_log")
  udp_port=$(sed -n 's/.* udp=[0-9.]*:\([0-9]*\) json-udp.*/\1/p' "$srv_log")
  json_port=$(sed -n 's/.* json-udp=[0-9.]*:\([0-9]*\).*/\1/p' "$srv_log")
}

# stop_server: SIGTERM (dmond drains and logs its final counters), bounded wait, then KILL.
stop_server() {
  kill -TERM "$srv_pid" 2>/dev/null || true
  local i
  for i in $(seq 150); do
    kill -0 "$srv_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$srv_pid" 2>/dev/null || true
  wait "$srv_pid" 2>/dev/null || true
}

# server_events KIND PROTO: events the server itself counted, from its final stats lines.
server_events() {
  local kind=$1 proto=$2
  if [[ $kind == dmon-ackd ]]; then
    case $proto in
      tcp) sed -n 's/^ackd stats: .*tcp_events=\([0-9]*\).*/\1/p' "$srv_log" | tail -1 ;;
      udp) sed -n 's/^ackd stats: .*udp_events=\([0-9]*\).*/\1/p' "$srv_log" | tail -1 ;;
      json) sed -n 's/^ackd stats: .*json_datagrams=\([0-9]*\).*/\1/p' "$srv_log" | tail -1 ;;
    esac
  else
    local listener=$proto
    [[ $proto == json ]] && listener=json-udp
    grep "stats $listener " "$srv_log" | tail -1 | sed -n 's/.*events_accepted=\([0-9]*\).*/\1/p'
  fi
}
# server_drops PROTO: dmond's dropped_events and dropped_datagrams for that listener (last stats line).
server_drops() {
  local proto=$1 listener=$1
  [[ $proto == json ]] && listener=json-udp
  grep "stats $listener " "$srv_log" | tail -1 |
    sed -n 's/.*dropped_events=\([0-9]*\) dropped_datagrams=\([0-9]*\).*/\1 \2/p'
}

# run_case SCENARIO KIND "SERVER ARGS" "LOAD ARGS": one fresh server, one bounded load run,
# one record (client JSON + server figures) appended to the records file.
run_case() {
  local scenario=$1 kind=$2 server_args=$3 load_args=$4
  # CASE_SECS / CASE_EVENTS override the bounds for one case (index-1m runs to a key count).
  local case_secs=${CASE_SECS:-$secs} case_events=${CASE_EVENTS:-$max_events}
  local proto
  proto=$(sed -n 's/.*--proto \([a-z]*\).*/\1/p' <<<"$load_args")
  proto=${proto:-tcp}
  # shellcheck disable=SC2086
  start_server "$scenario-$kind" "$kind" $server_args
  local port=$tcp_port
  [[ $proto == udp ]] && port=$udp_port
  [[ $proto == json ]] && port=$json_port
  local cpu0 drops0 out busy0
  cpu0=$(cpu_seconds "$srv_pid")
  busy0=$(busy_seconds)
  drops0=$(udp_kernel_drops "$port")
  # shellcheck disable=SC2086
  out=$(timeout $((case_secs + 40)) "$build/dmon-load" --quiet --port "$port" \
    --duration "$case_secs" --events "$case_events" $load_args) || { echo "run.sh: dmon-load failed in $scenario" >&2; }
  # Datagrams still queued in the server are counted once it drains; give UDP a moment.
  if [[ $proto != tcp ]]; then sleep 1; fi
  local cpu1 rss kdrops busy1
  cpu1=$(cpu_seconds "$srv_pid")
  busy1=$(busy_seconds)
  rss=$(peak_rss_mb "$srv_pid")
  kdrops=$(($(udp_kernel_drops "$port") - drops0))
  stop_server
  local counted sdrops
  counted=$(server_events "$kind" "$proto")
  sdrops=$(server_drops "$proto" 2>/dev/null || true)
  local sd=(${sdrops:-0 0})
  python3 "$here/record.py" "$records" "$out" scenario="$scenario" server="$kind" \
    server_args="$server_args" load_args="--duration $case_secs --events $case_events $load_args" \
    server_events="${counted:-0}" cpu_s="$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {printf "%.2f", b - a}')" \
    machine_busy_s="$(awk -v a="$busy0" -v b="$busy1" 'BEGIN {printf "%.2f", b - a}')" \
    rss_mb="${rss:-0}" kernel_drops="$kdrops" server_dropped_events="${sd[0]}" \
    server_dropped_datagrams="${sd[1]}"
  echo "  $scenario on $kind: $(sed -n 's/.*"events_per_s":\([0-9]*\).*/\1/p' <<<"$out") events/s," \
    "server counted ${counted:-?}" >&2
}

# peak_of SCENARIO KIND: the events/s a closed-loop scenario reached (for the open-loop rate).
peak_of() {
  python3 - "$records" "$1" "$2" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["scenario"] == sys.argv[2] and r["server"] == sys.argv[3]:
        print(int(r.get("events_per_s", 0)))
        break
else:
    print(0)
EOF
}

heavy="--streams heavy --python-path $here/streams"
tcp100="--proto tcp --connections 1 --pipeline 16 --events-per-msg 100"
tcp1="--proto tcp --connections 4 --pipeline 64 --events-per-msg 1"
udp_rate=${DMON_BENCH_UDP_RATE:-300000}
json_rate=${DMON_BENCH_JSON_RATE:-150000}

echo "dmon benchmarks: $secs s per run, build $build" >&2
if wanted tcp-100; then
  run_case tcp-100 dmon-ackd "" "$tcp100"
  run_case tcp-100 dmond "" "$tcp100"
fi
if wanted tcp-1x4; then
  run_case tcp-1x4 dmon-ackd "--threads 2" "$tcp1"
  run_case tcp-1x4 dmond "" "$tcp1"
fi
# Issue 10's "naive limit" for single-event frames: a read per frame part, a write per ack.
if wanted tcp-1x4 || wanted index-1x4; then
  run_case tcp-1x4-naive dmon-ackd "--naive" "$tcp1"
fi
if wanted udp; then
  run_case udp dmon-ackd "" "--proto udp --events-per-msg 1 --rate $udp_rate"
  run_case udp dmond "" "--proto udp --events-per-msg 1 --rate $udp_rate"
fi
if wanted json; then
  run_case json dmon-ackd "" "--proto json --rate $json_rate"
  run_case json dmond "" "--proto json --rate $json_rate"
fi
# Same traffic as tcp-100, so tcp-100's limit run is theirs too.
if wanted heavy; then
  run_case heavy dmond "$heavy" "$tcp100"
fi
if wanted index-only; then
  run_case index-only dmond "--streams index_only --python-path $here/streams" "$tcp100"
fi
# Issue 10: index() with single-event frames (tcp-1x4's traffic and both its limits), a Python lambda
# in front of index(), and an all-built-in graph (where with a query, by, rate).
if wanted index-1x4; then
  run_case index-1x4 dmond "--streams index_only --python-path $here/streams" "$tcp1"
fi
if wanted where-lambda; then
  run_case where-lambda dmond "--streams where_lambda --python-path $here/streams" "$tcp100"
fi
if wanted by-rate; then
  run_case by-rate dmond "--streams by_rate --python-path $here/streams" "$tcp100"
fi
if wanted open-50; then
  peak=$(peak_of tcp-100 dmond)
  if [[ $peak == 0 ]]; then
    run_case open-50-probe dmond "" "$tcp100"
    peak=$(peak_of open-50-probe dmond)
  fi
  half=$((peak / 2))
  run_case open-50 dmon-ackd "" "$tcp100 --rate $half"
  run_case open-50 dmond "" "$tcp100 --rate $half"
fi
# Issue 10's latency target: index() at half of its own peak from this run.
if wanted open-50-index; then
  peak=$(peak_of index-only dmond)
  if [[ $peak == 0 ]]; then
    run_case open-50-index-probe dmond "--streams index_only --python-path $here/streams" "$tcp100"
    peak=$(peak_of open-50-index-probe dmond)
  fi
  run_case open-50-index dmond "--streams index_only --python-path $here/streams" \
    "$tcp100 --rate $((peak / 2))"
fi

# opened_ms: the open time dmond logged ("... index entries in N ms") in the current server log.
opened_ms() { sed -n 's/.* index entries in \([0-9]*\) ms.*/\1/p' "$srv_log" | tail -1; }
# opened_entries: the index entries that open found.
opened_entries() { sed -n 's/.* opened: \([0-9]*\) index entries.*/\1/p' "$srv_log" | tail -1; }

if wanted index-1m && [[ ${DMON_BENCH_1M:-1} == 1 ]]; then
  # 1M keys through the example streams: RSS with the full index, then reopen times on the
  # same data directory, after a clean stop (flushed) and after kill -9 (WAL replay).
  CASE_SECS=60 CASE_EVENTS=1000000 \
    run_case index-1m dmond "" "$tcp100 --hosts 1000 --services 1000"
  start_server index-1m-dmond dmond
  clean_ms=$(opened_ms) clean_entries=$(opened_entries)
  # Rewrite every key, then crash: the reopen replays what the WAL holds.
  timeout 100 "$build/dmon-load" --quiet --port "$tcp_port" --duration 60 --events 1000000 \
    $tcp100 --hosts 1000 --services 1000 >/dev/null || true
  kill -KILL "$srv_pid"
  wait "$srv_pid" 2>/dev/null || true
  start_server index-1m-dmond dmond
  crash_ms=$(opened_ms) crash_entries=$(opened_entries)
  stop_server
  python3 "$here/record.py" --reopen "$records" index-1m "$clean_ms" "$clean_entries" \
    "$crash_ms" "$crash_entries"
  echo "  index-1m reopen: ${clean_ms:-?} ms clean (${clean_entries:-?} entries)," \
    "${crash_ms:-?} ms after kill -9 (${crash_entries:-?} entries)" >&2
fi
py_stage() {
  local name=$1
  shift
  local out
  # No event cap: the stage's default (2M) ends a fast run before 2 s, and issue 10 wants
  # every run at least that long.
  out=$(timeout $((secs + 30)) "$build/dmon-python-stage" --duration "$secs" --events 10000000000 \
    "$@" 2>/dev/null) || true
  python3 "$here/record.py" "$records" "$out" scenario="$name" server=python-stage \
    load_args="--duration $secs --events 10000000000 $*"
  echo "  $name: $(sed -n 's/.*"events_per_s":\([0-9]*\).*/\1/p' <<<"$out") events/s" >&2
}
if wanted python-stage; then
  py_stage python-stage-noop --streams noop --python-path "$here/streams"
  py_stage python-stage-index-only --streams index_only --python-path "$here/streams"
  py_stage python-stage-example --streams streams
  py_stage python-stage-heavy $heavy
  py_stage python-stage-where-lambda --streams where_lambda --python-path "$here/streams"
fi

mkdir -p "$here/results"
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
python3 "$here/report.py" "$records" "$secs" "$(nproc)" "$(uname -sr)" \
  "$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)" |
  tee "$here/results/$stamp.md"
cp "$records" "$here/results/$stamp.jsonl"
echo "written: bench/results/$stamp.md (raw records: $stamp.jsonl)" >&2
