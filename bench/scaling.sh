#!/usr/bin/env bash
# Horizontal scaling of a loopback cluster: every node in its own CPU-quota cgroup (the load
# generator outside them), 1/2/4 nodes driven by one dmon-load spread over all nodes; the CPU
# cost of forwarding (owned keys vs random keys); the time a join takes to hand off 100K keys.
# Usage: bench/scaling.sh [build-dir]   (from anywhere; as root, for the cgroups; builds nothing)
# Env: DMON_SCALING_SECONDS (8) per load run, DMON_SCALING_CPU (0.25) CPUs per node,
#      DMON_SCALING_JOIN_KEYS (100000), DMON_SCALING_NODES ("1 2 4"), DMON_SCALING_FWD_PAIRS (2),
#      DMON_SCALING_REPLICATION ("1 2": which scaling series run), DMON_SCALING_PARTS
#      ("scale fwd join": which parts run), DMON_SCALING_PERF (a directory: `perf record -g`
#      of node 0 during every scaling run, kept there as perf-<nodes>-<replication>.data),
#      DMON_SCALING_PIPELINE (8): unacked messages per connection.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
secs=${DMON_SCALING_SECONDS:-8}
cpu=${DMON_SCALING_CPU:-0.25}
join_keys=${DMON_SCALING_JOIN_KEYS:-100000}
node_counts=${DMON_SCALING_NODES:-1 2 4}
for bin in dmond dmon-load; do
  [[ -x $build/$bin ]] || { echo "scaling.sh: $build/$bin missing; build dmond and dmon-load" >&2; exit 2; }
done
work=$(mktemp -d /tmp/dmon-scaling.XXXXXX)
pids=()
cgroups=()
tick=$(getconf CLK_TCK)

# --- cgroups: v2 cpu.max where the cpu controller is available, else v1 CFS quota ----------
cg_root="" cg_kind=""
for d in /sys/fs/cgroup /sys/fs/cgroup/unified; do
  if [[ -f $d/cgroup.controllers ]] && grep -qw cpu "$d/cgroup.controllers"; then
    cg_root=$d cg_kind=v2
    grep -qw cpu "$d/cgroup.subtree_control" || echo +cpu > "$d/cgroup.subtree_control"
    break
  fi
done
if [[ -z $cg_root ]]; then
  for d in /sys/fs/cgroup/cpu /sys/fs/cgroup/cpu,cpuacct; do
    [[ -f $d/cpu.cfs_quota_us ]] && { cg_root=$d cg_kind=v1; break; }
  done
fi
[[ -n $cg_root ]] || { echo "scaling.sh: no cgroup cpu controller (v2 cpu.max or v1 cfs quota)" >&2; exit 2; }
period=100000
quota=$(awk -v c="$cpu" -v p=$period 'BEGIN { printf "%d", c * p }')

make_cgroup() {  # name; sets $cg (not a subshell, so cleanup sees the cgroup)
  cg=$cg_root/dmon-scaling-$$-$1
  mkdir "$cg"
  cgroups+=("$cg")
  if [[ $cg_kind == v2 ]]; then
    echo "$quota $period" > "$cg/cpu.max"
  else
    echo $period > "$cg/cpu.cfs_period_us"
    echo "$quota" > "$cg/cpu.cfs_quota_us"
  fi
}

stop_nodes() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  pids=()
  remove_cgroups
}

remove_cgroups() {  # the nodes in them have exited (stop_nodes), so rmdir succeeds
  local c
  for c in "${cgroups[@]}"; do
    [[ -d $c ]] || continue
    rmdir "$c" 2>/dev/null || { sleep 0.5; rmdir "$c" 2>/dev/null; } || echo "scaling.sh: could not remove $c" >&2
  done
  cgroups=()
}

cleanup() {
  stop_nodes
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

printf 'from dmon import index\nstream = index()\n' > "$work/bench_streams.py"
base=$((20000 + RANDOM % 20000))
tcp() { echo $((base + 10 * $1)); }
http() { echo $((base + 10 * $1 + 2)); }
peer() { echo $((base + 10 * $1 + 3)); }

start_node() {  # index members replication
  local i=$1 n=$2 rf=$3 peers="" j cg
  for ((j = 0; j < n; j++)); do peers+="${peers:+,}127.0.0.1:$(peer $j)"; done
  make_cgroup "$run_id-$i"
  local args=(--node-id "node-$i" --tcp-port "$(tcp "$i")" --udp-port "$(tcp "$i")"
              --json-udp-port $((base + 10 * i + 1)) --http-port "$(http "$i")"
              --data-dir "$work/data-$run_id-$i" --python-path "$work" --streams bench_streams
              --stats-interval 0 --instrumentation-interval 0)
  ((n > 1)) && args+=(--peer-port "$(peer "$i")" --peers "$peers" --replication "$rf")
  # The shell joins the cgroup first, so dmond and every thread it makes are inside.
  bash -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' _ "$cg" "$build/dmond" "${args[@]}" \
    > /dev/null 2> "$work/node-$run_id-$i.log" &
  pids+=($!)
}

cluster_json() { curl -sf --max-time 5 "http://127.0.0.1:$(http "$1")/cluster"; }
jfield() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

wait_ready() {  # nodes... ; members expected = count of nodes given (1: no /cluster check)
  local want=$# i ok limit=$((SECONDS + 120))
  # 120 s: four nodes starting at 0.25 CPU each on a loaded 2-core machine can need over 60.
  while ((SECONDS < limit)); do
    ok=1
    for i in "$@"; do
      curl -sf --max-time 2 "http://127.0.0.1:$(http "$i")/readyz" > /dev/null || { ok=0; break; }
      if ((want > 1)); then
        [[ $(cluster_json "$i" | jfield 'len(d["members"])' 2>/dev/null) == "$want" ]] || { ok=0; break; }
      fi
    done
    ((ok)) && return 0
    sleep 0.1
  done
  echo "scaling.sh: nodes $* not ready after 120 s; logs in $work" >&2
  tail -n 5 "$work"/node-"$run_id"-*.log >&2
  exit 1
}

cpu_ticks() {  # summed utime+stime of the running nodes
  local s=0 p
  for p in "${pids[@]}"; do
    s=$((s + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
  done
  echo $s
}

ctx_switches() {  # voluntary + involuntary context switches of every thread of the running nodes
  local p
  for p in "${pids[@]}"; do cat /proc/"$p"/task/*/status 2>/dev/null; done |
    awk '/ctxt_switches/ { s += $2 } END { print s + 0 }'
}

thread_switches() {  # per thread of node 0: name and context switches (for DMON_SCALING_PERF)
  local t
  for t in /proc/"${pids[0]}"/task/*; do
    echo "$(cat "$t/comm") $(awk '/ctxt_switches/ { s += $2 } END { print s + 0 }' "$t/status")"
  done
}

targets() {
  local t="" i
  for ((i = 0; i < $1; i++)); do t+="${t:+,}127.0.0.1:$(tcp "$i")"; done
  echo "$t"
}

load_common=(--pipeline "${DMON_SCALING_PIPELINE:-8}" --events-per-msg 100 --quiet)
fwd_runs=0
results=()  # "name|nodes|rf|events/s|p50|p99|cpu_us_per_event|forwarded|errors|cpu_used/quota|ctx/1000 events|events/forward"

# --- 1. scaling: one dmon-load, 2 connections per node, keys spread over all nodes ---------
scale_run() {  # nodes replication
  local n=$1 rf=$2 i c0 c1 line
  run_id="scale-$n-$rf"
  for ((i = 0; i < n; i++)); do start_node "$i" "$n" "$rf"; done
  wait_ready $(seq 0 $((n - 1)))
  local perf_pid=""
  if [[ -n ${DMON_SCALING_PERF:-} ]]; then
    mkdir -p "$DMON_SCALING_PERF"
    perf record -F 999 -g -p "${pids[0]}" -o "$DMON_SCALING_PERF/perf-$n-$rf.data" \
      -- sleep "$secs" > /dev/null 2>&1 &
    perf_pid=$!
  fi
  [[ -n ${DMON_SCALING_PERF:-} ]] && thread_switches > "$DMON_SCALING_PERF/switches-$n-$rf.before"
  local x0 x1
  x0=$(ctx_switches)
  c0=$(cpu_ticks)
  line=$("$build/dmon-load" --targets "$(targets "$n")" --connections $((2 * n)) \
    "${load_common[@]}" --hosts 1000 --services 10 --duration "$secs" --events 100000000)
  c1=$(cpu_ticks)
  x1=$(ctx_switches)
  [[ -n ${DMON_SCALING_PERF:-} ]] && thread_switches > "$DMON_SCALING_PERF/switches-$n-$rf.after"
  [[ -n $perf_pid ]] && wait "$perf_pid"
  local fwd=0 fb=0
  if ((n > 1)); then
    for ((i = 0; i < n; i++)); do
      fwd=$((fwd + $(cluster_json "$i" | jfield 'd["counters"]["forwarded_out"]')))
      fb=$((fb + $(cluster_json "$i" | jfield 'd["counters"].get("forward_batches_out", 0)')))
    done
  fi
  results+=("$(echo "$line" | python3 -c "
import json,sys; d=json.load(sys.stdin); l=d['latency_us']
cpu=($c1-$c0)/$tick
print(f\"scale|$n|$rf|{d['events_per_s']:.0f}|{l['p50']/1e3:.1f}|{l['p99']/1e3:.1f}|{cpu*1e6/max(d['events_acked'],1):.1f}|{$fwd/max(d['events_acked'],1):.2f}|{d['errors']+d['unanswered']}|{cpu/max(d['elapsed_s'],1e-9)/($n*$cpu):.2f}|{($x1-$x0)*1e3/max(d['events_acked'],1):.0f}|{$fwd/$fb if $fb else 0:.0f}\")")")
  echo "  $run_id: ${results[-1]}" >&2
  stop_nodes
}

echo "scaling.sh: $cg_kind cgroups under $cg_root, $cpu CPU per node, ${secs}s per run; load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
part() { [[ " ${DMON_SCALING_PARTS:-scale fwd join} " == *" $1 "* ]]; }
if part scale; then
  for rf in ${DMON_SCALING_REPLICATION:-1 2}; do
    for n in $node_counts; do ((n > 1 || rf == 1)) && scale_run "$n" "$rf"; done
  done
fi

# --- 2. forwarding overhead: 2 nodes, replication 1; each node gets its own dmon-load --------
# "owned": every node is sent only the keys it owns (learned from its local index after a
# preload), so nothing is forwarded; "random": every node is sent all keys, so half of each
# node's events are forwarded. Same generators, same connections; the difference in server CPU
# per event is what the hop costs (divided by the forwarded share).
fwd_run() {  # mode
  local mode=$1 i c0 c1
  fwd_runs=$((fwd_runs + 1))
  run_id="fwd-$mode-$fwd_runs"  # fresh data dirs every run
  for i in 0 1; do start_node "$i" 2 1; done
  wait_ready 0 1
  "$build/dmon-load" --targets "$(targets 2)" --connections 2 "${load_common[@]}" \
    --hosts 1000 --services 10 --events 10000 > /dev/null
  for i in 0 1; do
    if [[ $mode == owned ]]; then
      curl -sf --max-time 30 "http://127.0.0.1:$(http "$i")/index?query=true&scope=local" |
        python3 -c 'import json,sys; [print(e["host"], e["service"]) for e in json.load(sys.stdin)]' \
        > "$work/keys-$i"
    else
      python3 -c 'print("\n".join(f"host-{h} svc-{s}" for h in range(1000) for s in range(10)))' > "$work/keys-$i"
    fi
  done
  local f0=0 fwd=0 b0=0 fb=0 loads=()
  for i in 0 1; do
    f0=$((f0 + $(cluster_json "$i" | jfield 'd["counters"]["forwarded_out"]')))
    b0=$((b0 + $(cluster_json "$i" | jfield 'd["counters"].get("forward_batches_out", 0)')))
  done
  if [[ $mode == owned ]] && (($(sort -u "$work/keys-0" "$work/keys-1" | wc -l) != 10000 ||
                              $(cat "$work/keys-0" "$work/keys-1" | wc -l) != 10000)); then
    echo "scaling.sh: the local indexes do not split the 10,000 keys; logs in $work" >&2
    exit 1
  fi
  local x0 x1
  x0=$(ctx_switches)
  c0=$(cpu_ticks)
  for i in 0 1; do
    "$build/dmon-load" --port "$(tcp "$i")" --connections 2 "${load_common[@]}" \
      --keys-file "$work/keys-$i" --duration "$secs" --events 100000000 > "$work/fwd-$mode-$i.json" &
    loads+=($!)
  done
  wait "${loads[@]}"
  c1=$(cpu_ticks)
  x1=$(ctx_switches)
  for i in 0 1; do
    fwd=$((fwd + $(cluster_json "$i" | jfield 'd["counters"]["forwarded_out"]')))
    fb=$((fb + $(cluster_json "$i" | jfield 'd["counters"].get("forward_batches_out", 0)')))
  done
  results+=("$(python3 -c "
import json
ds=[json.load(open('$work/fwd-$mode-%d.json' % i)) for i in (0,1)]
ev=sum(d['events_acked'] for d in ds); rate=sum(d['events_per_s'] for d in ds)
p50=max(d['latency_us']['p50'] for d in ds)/1e3; p99=max(d['latency_us']['p99'] for d in ds)/1e3
cpu=($c1-$c0)/$tick
print(f\"fwd-$mode|2|1|{rate:.0f}|{p50:.1f}|{p99:.1f}|{cpu*1e6/max(ev,1):.1f}|{($fwd-$f0)/max(ev,1):.2f}|{sum(d['errors']+d['unanswered'] for d in ds)}|{cpu/max(max(d['elapsed_s'] for d in ds),1e-9)/(2*$cpu):.2f}|{($x1-$x0)*1e3/max(ev,1):.0f}|{($fwd-$f0)/($fb-$b0) if $fb>$b0 else 0:.0f}\")")")
  echo "  $run_id: ${results[-1]}" >&2
  stop_nodes
}
# Interleaved pairs: the CPU cost per event drifts with what else runs on the machine.
if part fwd; then
  for ((k = 0; k < ${DMON_SCALING_FWD_PAIRS:-2}; k++)); do
    fwd_run owned
    fwd_run random
  done
fi

# --- 3. join: 100K keys on 2 nodes (replication 2), start a 3rd, time the handoff ----------
if part join; then
run_id=join
start_node 0 2 2
start_node 1 2 2
wait_ready 0 1
hosts=$((join_keys / 10))
"$build/dmon-load" --targets "$(targets 2)" --connections 4 "${load_common[@]}" \
  --hosts "$hosts" --services 10 --events "$join_keys" --duration 120 > "$work/join-load.json"
sum_field() {  # field nodes...
  local f=$1 s=0 i v; shift
  for i in "$@"; do v=$(cluster_json "$i" | jfield "d[\"$f\"]") || return 1; s=$((s + v)); done
  echo $s
}
wait_sum() {  # field want timeout_s nodes...
  local f=$1 want=$2 limit=$3; shift 3
  for ((t = 0; t < limit * 10; t++)); do
    [[ $(sum_field "$f" "$@" 2>/dev/null) == "$want" ]] && return 0
    sleep 0.1
  done
  return 1
}
wait_sum keys_owned "$join_keys" 60 0 1 || { echo "scaling.sh: preload incomplete" >&2; exit 1; }
wait_sum replicas_held "$join_keys" 60 0 1 || { echo "scaling.sh: replicas incomplete" >&2; exit 1; }
query_count() {  # node: keys of svc-0 a cluster-wide query returns (want join_keys/10)
  curl -sf --max-time 30 "http://127.0.0.1:$(http "$1")/index?query=service%20%3D%20%22svc-0%22" |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}
t0=$(date +%s.%N)
start_node 2 3 2
wait_ready 0 1 2
t_member=$(date +%s.%N)
# Done = every key in exactly one node's index (old owners delete handed-off entries after
# release_grace, 3 s) with the 3rd node owning some, and one replica per key again.
t_owned="" t_repl=""
# Cluster-wide queries run beside the move (every 0.2 s, each on the next node) until it ends.
(
  q=0
  while [[ ! -e $work/join-done ]] && ((q < 300)); do
    echo "$(query_count $((q % 3)) 2>/dev/null || echo failed)" >> "$work/join-queries"
    q=$((q + 1))
    sleep 0.2
  done
) &
querier=$!
deadline=$(($(date +%s) + 120))
last_mine=0 t_arrived=0
while (($(date +%s) < deadline)); do
  now=$(date +%s.%N)
  mine=$(cluster_json 2 | jfield 'd["keys_owned"]' 2>/dev/null || echo 0)
  # The last time the 3rd node's index grew: when the handoff to it was complete.
  ((mine != last_mine)) && { last_mine=$mine; t_arrived=$now; }
  if [[ -z $t_owned ]] && ((mine > 0)) &&
     [[ $(sum_field keys_owned 0 1 2 2>/dev/null) == "$join_keys" ]]; then
    t_owned=$now
  fi
  # Checked once ownership settled: during the move the sum can pass through the total.
  if [[ -n $t_owned && $(sum_field replicas_held 0 1 2 2>/dev/null) == "$join_keys" ]] &&
     (($(cluster_json 2 | jfield 'd["replicas_held"]' 2>/dev/null || echo 0) > 0)); then
    t_repl=$now
    break
  fi
  sleep 0.1
done
touch "$work/join-done"
wait "$querier" || true
queries=$(wc -l < "$work/join-queries")
queries_ok=$(grep -cx "$hosts" "$work/join-queries" || true)
final_ok=0
for i in 0 1 2; do [[ $(query_count "$i") == "$hosts" ]] && final_ok=$((final_ok + 1)); done
handed=$(cluster_json 2 | jfield 'd["counters"]["handed_off_in"]')
mine=$(cluster_json 2 | jfield 'd["keys_owned"]')
stop_nodes

fi

# --- table ---------------------------------------------------------------------------------
echo "## Cluster scaling ($(date -u +%F), $cpu CPU per node, ${secs}s runs, streams \`index()\`)"
echo
echo "(efficiency: events/s ÷ (nodes × one node's events/s); for replication 2, which needs 2 nodes, per added node from its 2-node run: events/s ÷ (nodes/2 × the 2-node events/s))"
echo
echo "| run | nodes | replication | events/s | × 1 node | efficiency | ack p50 ms | ack p99 ms | node CPU µs/event | forwarded/event | errors | CPU used / quota | context switches / 1000 events | events per forward batch |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
one="" two_r2=""
for r in "${results[@]}"; do
  IFS='|' read -r name n rf rate p50 p99 cpue fwd err used ctx fbatch <<< "$r"
  [[ $name == scale && $n == 1 ]] && one=$rate
  [[ $name == scale && $n == 2 && $rf == 2 ]] && two_r2=$rate
  ratio=- eff=-
  if [[ $name == scale && -n $one ]]; then
    ratio=$(awk -v a="$rate" -v b="$one" 'BEGIN { printf "%.2f", a / b }')
    if [[ $rf == 1 ]]; then
      eff=$(awk -v a="$rate" -v b="$one" -v n="$n" 'BEGIN { printf "%.2f", a / b / n }')
    elif [[ -n $two_r2 ]]; then
      eff=$(awk -v a="$rate" -v b="$two_r2" -v n="$n" 'BEGIN { printf "%.2f", a / b / (n / 2) }')
    fi
  fi
  [[ $fbatch == 0 ]] && fbatch=-
  echo "| $name | $n | $rf | $rate | $ratio | $eff | $p50 | $p99 | $cpue | $fwd | $err | $used | $ctx | $fbatch |"
done
echo
printf '%s\n' "${results[@]}" | awk -F'|' '
  $1 == "fwd-owned" { o[++no] = $7 } $1 == "fwd-random" { r[++nr] = $7; f[nr] = $8 }
  END {
    if (!no || no != nr) exit
    for (i = 1; i <= no; i++) {
      if (f[i] <= 0) continue
      v = (r[i] - o[i]) / f[i]; list = list sprintf("%s%.1f", i > 1 ? ", " : "", v); sum += v; n++
    }
    if (n) printf "Forwarding overhead: %.1f µs of node CPU per forwarded event (mean of %d interleaved pairs: %s; each (random − owned µs/event) / forwarded share)\n\n", sum / n, n, list
  }'
part join && awk -v a="$t0" -v m="$t_member" -v o="${t_owned:-0}" -v r="${t_repl:-0}" -v k="$join_keys" \
    -v q="$queries_ok" -v qn="$queries" -v f="$final_ok" -v h="$handed" -v mine="$mine" -v g="$t_arrived" 'BEGIN {
  printf "Join of a 3rd node to 2 nodes holding %d keys (replication 2): member and ready after %.1f s; ", k, m - a
  if (o > 0) printf "3rd node holding all its %d keys (%d handed in) after %.1f s; every key owned once (old owners delete after the 3 s release grace) after %.1f s; ", mine, h, g - a, o - a
  else printf "keys NOT owned once within 120 s; "
  if (r > 0) printf "and one replica per key (3rd node holding some) after %.1f s. ", r - a
  else printf "replicas NOT complete. "
  printf "Cluster-wide queries for 1/10 of the keys (every 0.2 s, round-robin over the nodes) complete during the move: %d of %d; after: %d of 3 nodes.\n", q, qn, f
}'
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
