#!/usr/bin/env bash
# Rehearses deploy/k8s on one machine: dmond "pods" in network namespaces, scaled 3 -> 4 -> 2.
#
# Each pod is a dmond in its own network namespace with its own IP on a private bridge
# (198.51.100.0/24, TEST-NET-2, reachable only from inside the namespaces), started with the
# StatefulSet's args and env and the ConfigMap's dmon.conf and stream.py, read from
# deploy/k8s/30-statefulset.yaml and 10-configmap.yaml. Peers find each other as on
# Kubernetes, through the headless Service's DNS name: /etc/netns/<ns>/hosts lists
# dmon.<namespace>.svc.cluster.local once per live pod (getaddrinfo returns every line) and
# dmon-N.dmon.<namespace>.svc.cluster.local per pod; scaling rewrites those files in place, as
# the Service's records change. Clients (the role of the dmon-ingest Service) run in a client
# namespace and spread events over the Ready pods through POST /events; an event counts as
# acknowledged when its reply line is {}.
#
# Steps, each reported on stdout and in the JSON report:
#   up3    3 pods Ready, a first batch of events acknowledged
#   join4  a 4th pod joins; a second batch acknowledged; every acknowledged event queryable
#   leave2 pods 3 and 2 leave as a scale-down does (records removed, preStop sleep, SIGTERM,
#          SIGKILL after the grace period); every acknowledged event still queryable
# "Queryable" means found by GET /index on some live pod (the union over the pods, so the
# check does not depend on cluster-wide queries). Paths in the manifests (/etc/dmon,
# /var/lib/dmon) are rewritten to per-pod directories under the run directory; everything
# else is as the manifests say.
#
# usage: deploy/rehearse.sh [--dmond PATH] [--events N] [--report FILE] [--workdir DIR]
#                           [--keep] [--pre-stop SECONDS]
#   --events     events sent, half before and half after the join (default 200)
#   --report     also write the steps' results as JSON there
#   --workdir    where the pods' files go (default: a new /tmp/dmon-rehearsal.*, removed
#                after a run where every step passed unless --keep)
#   --pre-stop   seconds between a pod leaving DNS and its SIGTERM (default: the manifest's
#                preStop sleep)
# Needs root, iproute2, curl and python3 with PyYAML ($PYTHON, default /usr/bin/python3).
# Exit status: 0 when every step passed, 1 when one failed, 77 when network namespaces are
# refused here (a test runner skips then), 2 for bad usage or a missing tool.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

dmond=$repo/build/dmond
events=200
report=
workdir=
keep=0
pre_stop=
while (($#)); do
  case $1 in
    --dmond) dmond=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    --report) report=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --pre-stop) pre_stop=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "rehearse: unknown argument '$1'; see --help" >&2; exit 2 ;;
  esac
done
[[ $events =~ ^[1-9][0-9]*$ ]] || { echo "rehearse: --events must be a positive number" >&2; exit 2; }
# Pods start in their own directories: a relative --dmond must not depend on that.
[[ $dmond == /* ]] || dmond=$PWD/$dmond
[[ -x $dmond ]] || { echo "rehearse: $dmond is not an executable dmond; build it or pass --dmond" >&2; exit 2; }
# Debian's python3 (PyYAML from python3-yaml), not whatever python3 comes first in PATH.
py=${PYTHON:-/usr/bin/python3}
for tool in ip curl "$py"; do
  command -v "$tool" >/dev/null || { echo "rehearse: $tool is missing (deploy/install-deps.sh installs it)" >&2; exit 2; }
done
"$py" -c 'import yaml' 2>/dev/null || { echo "rehearse: $py lacks PyYAML (apt-get install python3-yaml)" >&2; exit 2; }

if [[ $(id -u) -ne 0 ]]; then
  echo "rehearse: SKIP: network namespaces need root"
  exit 77
fi
# A unique prefix per run, so parallel runs never share a namespace.
pfx=dr$$
if ! ip netns add "${pfx}probe" 2>/dev/null; then
  echo "rehearse: SKIP: network namespaces are refused here (ip netns add failed)"
  exit 77
fi
ip netns del "${pfx}probe"

net=198.51.100
own_workdir=0
if [[ -z $workdir ]]; then
  workdir=$(mktemp -d /tmp/dmon-rehearsal.XXXXXX)
  own_workdir=1
fi
failed=0
mkdir -p "$workdir"
client=${pfx}c
hub=${pfx}hub
declare -A pid=()
added_route=0

teardown() {
  set +e
  for i in "${!pid[@]}"; do kill -KILL "${pid[$i]}" 2>/dev/null; done
  wait 2>/dev/null
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^${pfx}"); do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
    rm -rf "/etc/netns/$ns"
  done
  # The safety route goes only when this run added it and no other run still needs it.
  if ((added_route)) && ! ip netns list | grep -qE '^dr[0-9]+hub'; then
    ip route del unreachable $net.0/24 2>/dev/null
  fi
  # The pods' logs and data stay for a look after a failed step (or with --keep).
  if ((own_workdir && !keep && !failed)); then
    rm -rf "$workdir"
  else
    echo "rehearse: pod logs and data are in $workdir/pods" >&2
  fi
}
trap teardown EXIT
trap 'exit 130' INT TERM

# Safety net: a packet for the test net that strays into the root namespace fails locally
# instead of leaving the machine.
if ! ip route show $net.0/24 | grep -q unreachable; then
  if ip route show $net.0/24 | grep -q .; then
    echo "rehearse: $net.0/24 is routed on this machine; refusing to use it" >&2
    exit 2
  fi
  ip route add unreachable $net.0/24
  added_route=1
fi

# -- the manifests ---------------------------------------------------------------------------
# One line per fact: ns, svc, port.peer, grace, prestop, env NAME=VALUE|-, arg ...
"$py" - "$repo/deploy/k8s" >"$workdir/manifest.txt" <<'EOF'
import sys, yaml, pathlib
d = pathlib.Path(sys.argv[1])
docs = [x for f in sorted(d.glob("*.yaml")) for x in yaml.safe_load_all(f.read_text()) if x]
sts = next(x for x in docs if x["kind"] == "StatefulSet")
svc = next(x for x in docs if x["kind"] == "Service" and x["spec"].get("clusterIP") == "None"
           and x["metadata"]["name"] == sts["spec"]["serviceName"])
spec = sts["spec"]["template"]["spec"]
c = spec["containers"][0]
print("ns", sts["metadata"].get("namespace", "default"))
print("svc", svc["metadata"]["name"])
print("replicas", sts["spec"]["replicas"])
for p in c["ports"]:
    print("port", p["name"], p["containerPort"])
print("grace", spec.get("terminationGracePeriodSeconds", 30))
stop = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
print("prestop", stop)
for e in c.get("env", []):
    print("env", e["name"], e.get("value", "-"))
for a in c.get("args", []):
    print("arg", a)
cm_names = {v["configMap"]["name"]: v["name"] for v in spec.get("volumes", []) if "configMap" in v}
mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
for x in docs:
    if x["kind"] == "ConfigMap" and x["metadata"]["name"] in cm_names:
        mount = mounts[cm_names[x["metadata"]["name"]]]
        for key in x.get("data", {}):
            print("file", mount, key, x["metadata"]["name"])
for t in sts["spec"].get("volumeClaimTemplates", []):
    print("volume", mounts[t["metadata"]["name"]])
EOF
field() { awk -v k="$1" '$1 == k {print $2; exit}' "$workdir/manifest.txt"; }
k8s_ns=$(field ns)
svc=$(field svc)
grace=$(field grace)
pre_stop=${pre_stop:-$(field prestop)}
port_of() { awk -v n="$1" '$1 == "port" && $2 == n {print $3; exit}' "$workdir/manifest.txt"; }
http_port=$(port_of http)
peer_port=$(port_of peer)
domain=cluster.local
svc_name=$svc.$k8s_ns.svc.$domain

# Lays out pod N's filesystem: the ConfigMap files and the data volume at per-pod paths.
# Prints the sed script that rewrites the manifest's mount paths to them.
pod_dir() { echo "$workdir/pods/dmon-$1"; }
layout_pod() {
  local n=$1 root mounts=() script=
  root=$(pod_dir "$n")
  mkdir -p "$root"
  while read -r _ mount key cm; do
    mkdir -p "$root$mount"
    "$py" - "$repo/deploy/k8s" "$cm" "$key" >"$root$mount/$key" <<'EOF'
import sys, yaml, pathlib
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.yaml")):
    for x in yaml.safe_load_all(f.read_text()):
        if x and x["kind"] == "ConfigMap" and x["metadata"]["name"] == sys.argv[2]:
            sys.stdout.write(x["data"][sys.argv[3]])
EOF
    mounts+=("$mount")
  done < <(awk '$1 == "file"' "$workdir/manifest.txt")
  while read -r _ mount; do mkdir -p "$root$mount"; mounts+=("$mount"); done \
    < <(awk '$1 == "volume"' "$workdir/manifest.txt")
  for m in $(printf '%s\n' "${mounts[@]}" | sort -u); do
    script+="s#$m#$root$m#g;"
  done
  # The rewritten paths inside the ConfigMap files too (dmon.conf names the data dir).
  while read -r _ mount key _; do
    sed -i "$script" "$root$mount/$key"
  done < <(awk '$1 == "file"' "$workdir/manifest.txt")
  echo "$script" >"$root/paths.sed"
}

ip_of() { echo "$net.$((10 + $1))"; }
ns_of() { echo "${pfx}p$1"; }

# The DNS records the headless Service would publish for the live pods, in every pod's view.
declare -a live=()
publish_dns() {
  local hosts="127.0.0.1 localhost"$'\n'
  for n in "${live[@]}"; do
    hosts+="$(ip_of "$n") dmon-$n.$svc_name $svc_name"$'\n'
  done
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^${pfx}(p[0-9]+|c)$"); do
    # Rewritten in place (same inode): a running pod sees the bind-mounted file change, as
    # it would see the DNS records change.
    printf '%s' "$hosts" >"/etc/netns/$ns/hosts"
  done
}

# Checks that getaddrinfo in a pod's view returns one address per live pod for the Service
# name, as the headless Service's DNS answer would; prints the count.
dns_answers() {
  ip netns exec "$client" "$py" -c '
import socket, sys
print(len({a[4][0] for a in socket.getaddrinfo(sys.argv[1], None, socket.AF_INET, socket.SOCK_STREAM)}))' \
    "$svc_name" 2>/dev/null || echo 0
}

attach() {  # attach <namespace> <ip>
  local ns=$1 addr=$2 br
  br=v${1#"$pfx"}
  ip netns add "$ns"
  mkdir -p "/etc/netns/$ns"
  : >"/etc/netns/$ns/hosts"
  ip -n "$ns" link set lo up
  ip link add eth0 netns "$ns" type veth peer name "$br" netns "$hub"
  ip -n "$hub" link set "$br" master br0
  ip -n "$hub" link set "$br" up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
}

# Gives pod N its namespace, address and files, as scheduling it would.
create_pod() {
  attach "$(ns_of "$1")" "$(ip_of "$1")"
  layout_pod "$1"
}

# Starts pod N with the StatefulSet's env and args, $(VAR) expanded as the kubelet does.
start_pod() {
  local n=$1 ns root env=() args=() a name value
  ns=$(ns_of "$n")
  root=$(pod_dir "$n")
  declare -A var=([POD_NAME]=dmon-$n [POD_NAMESPACE]=$k8s_ns [POD_IP]=$(ip_of "$n"))
  while read -r _ name value; do
    [[ $value == - ]] && value=${var[$name]:-}
    var[$name]=$value
    env+=("$name=$value")
  done < <(awk '$1 == "env"' "$workdir/manifest.txt")
  while read -r a; do
    a=${a#arg }
    for name in "${!var[@]}"; do a=${a//"\$($name)"/${var[$name]}}; done
    args+=("$(sed -f "$root/paths.sed" <<<"$a")")
  done < <(grep '^arg ' "$workdir/manifest.txt")
  echo "${args[*]}" >"$root/args.txt"
  # cwd: a fresh directory, as a container's working directory would be.
  (cd "$root" && exec ip netns exec "$ns" env -i PATH=/usr/bin:/bin HOSTNAME="dmon-$n" \
    "${env[@]}" "$dmond" "${args[@]}" >"$root/stdout.log" 2>"$root/dmond.log") &
  pid[$n]=$!
}

# Runs curl from the client namespace.
ccurl() { ip netns exec "$client" curl -sS --max-time 10 "$@"; }

wait_ready() {  # wait_ready <pod> <seconds>
  local n=$1 deadline=$((SECONDS + $2)) code
  while ((SECONDS < deadline)); do
    code=$(ccurl -o /dev/null -w '%{http_code}' "http://$(ip_of "$n"):$http_port/readyz" 2>/dev/null || true)
    [[ $code == 200 ]] && return 0
    kill -0 "${pid[$n]}" 2>/dev/null || { echo "rehearse: dmon-$n exited; its log:" >&2; tail -20 "$(pod_dir "$n")/dmond.log" >&2; return 1; }
    sleep 0.5
  done
  echo "rehearse: dmon-$n not Ready after $2 s: $(ccurl "http://$(ip_of "$n"):$http_port/readyz" 2>&1 || true)" >&2
  return 1
}

# Sends events rh-<from>..rh-<to-1> spread over the live pods; appends acked hosts to acked.txt.
send_batch() {
  local from=$1 to=$2 k=0 n body replies i
  for ((i = from; i < to; i += 50)); do
    n=${live[$((k % ${#live[@]}))]}
    k=$((k + 1))
    body=$("$py" -c '
import json, sys
lo, hi = int(sys.argv[1]), int(sys.argv[2])
for h in range(lo, hi):
    print(json.dumps({"host": f"rh-{h}", "service": "rehearsal", "metric": h, "ttl": 3600}))' \
      "$i" "$((i + 50 < to ? i + 50 : to))")
    replies=$(ccurl --data-binary "$body" "http://$(ip_of "$n"):$http_port/events" || true)
    paste -d' ' <(sed 's/.*"host": "\([^"]*\)".*/\1/' <<<"$body") <(printf '%s\n' "$replies") |
      awk '$2 == "{}" {print $1}' >>"$workdir/acked.txt"
  done
}

# Prints the acknowledged hosts no live pod has in its index.
missing() {
  local n
  : >"$workdir/found.txt"
  for n in "${live[@]}"; do
    ccurl "http://$(ip_of "$n"):$http_port/index?query=service%20%3D%20%22rehearsal%22" |
      "$py" -c 'import json, sys; [print(e["host"]) for e in json.load(sys.stdin)]' \
        >>"$workdir/found.txt" 2>/dev/null || true
  done
  sort -u "$workdir/acked.txt" | comm -23 - <(sort -u "$workdir/found.txt")
}

# Waits (bounded) until no acknowledged event is missing; prints how many stay missing.
check_queryable() {
  local deadline=$((SECONDS + $1)) gone
  while :; do
    gone=$(missing | wc -l)
    ((gone == 0 || SECONDS >= deadline)) && break
    sleep 1
  done
  echo "$gone"
}

declare -A result=()
note=
step() {  # step <name> <ok 0|1> <message>
  result[$1]="$2 $3"
  (($2)) || failed=1
  printf 'rehearse: %-6s %s  %s\n' "$1" "$( (($2)) && echo PASS || echo FAIL)" "$3"
}
write_report() {
  [[ -n $report ]] || return 0
  local name
  {
    echo "{"
    for name in up3 join4 leave2; do
      [[ -n ${result[$name]:-} ]] || continue
      local ok=${result[$name]%% *} msg=${result[$name]#* }
      printf '  "%s": {"ok": %s, "message": "%s"},\n' "$name" \
        "$( ((ok)) && echo true || echo false)" "${msg//\"/\'}"
    done
    printf '  "notes": [%s],\n' "${note:+\"${note//\"/\'}\"}"
    printf '  "acked": %s, "workdir": "%s"\n}\n' "$(sort -u "$workdir/acked.txt" | wc -l)" "$workdir"
  } >"$report"
}

# -- the network -------------------------------------------------------------------------
ip netns add "$hub"
ip -n "$hub" link set lo up
ip -n "$hub" link add br0 type bridge
ip -n "$hub" link set br0 up
attach "$client" "$net.5"
: >"$workdir/acked.txt"
echo "rehearse: namespaces ${pfx}*, bridge $net.0/24, service $svc_name, run directory $workdir"

# -- up3: the StatefulSet's replicas ------------------------------------------------------
live=(0 1 2)
for n in "${live[@]}"; do create_pod "$n"; done
# Records exist before the pods are Ready (publishNotReadyAddresses: true).
publish_dns
for n in "${live[@]}"; do start_pod "$n"; done
ok=1
if (($(dns_answers) != ${#live[@]})); then
  step up3 0 "getaddrinfo($svc_name) did not return the ${#live[@]} pod addresses from /etc/netns/*/hosts"
  write_report
  exit 1
fi
for n in "${live[@]}"; do wait_ready "$n" 60 || ok=0; done
half=$((events / 2))
((ok)) && send_batch 0 "$half"
acked=$(sort -u "$workdir/acked.txt" | wc -l)
if ((ok && acked == half)); then
  step up3 1 "3 pods Ready; $acked of $half events acknowledged"
  # What a pod tells its peers to dial: with bind 0.0.0.0 and no --advertise that is not an
  # address a peer can use (a peer learned through gossip alone would be dialled there).
  if grep -q "advertised as 0.0.0.0" "$(pod_dir 0)/dmond.log"; then
    note="pods advertise 0.0.0.0:$peer_port to their peers; the StatefulSet should pass --advertise=\$(POD_IP):$peer_port"
    echo "rehearse: note: $note"
  fi
else
  step up3 0 "pods Ready: $ok; $acked of $half events acknowledged"
  write_report
  exit 1
fi

# -- join4: kubectl scale --replicas=4 ------------------------------------------------------
live=(0 1 2 3)
create_pod 3
publish_dns
start_pod 3
ok=1
wait_ready 3 60 || ok=0
((ok)) && send_batch "$half" "$events"
acked=$(sort -u "$workdir/acked.txt" | wc -l)
gone=$(check_queryable 30)
if ((ok && acked == events && gone == 0)); then
  step join4 1 "4 pods Ready; all $acked acknowledged events queryable"
else
  step join4 0 "pod 3 Ready: $ok; $acked of $events acknowledged; $gone acknowledged events not queryable"
fi

# -- leave2: kubectl scale --replicas=2 -----------------------------------------------------
# The pods leave the Service's records as preStop starts; SIGTERM after preStop; SIGKILL once
# the grace period (which includes preStop) is over.
live=(0 1)
publish_dns
dns_left=$(dns_answers)
sleep "$pre_stop"
for n in 3 2; do kill -TERM "${pid[$n]}" 2>/dev/null || true; done
clean=1
for n in 3 2; do
  deadline=$((SECONDS + grace - pre_stop))
  while kill -0 "${pid[$n]}" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "${pid[$n]}" 2>/dev/null; then
    kill -KILL "${pid[$n]}"
    clean=0
  fi
  wait "${pid[$n]}" 2>/dev/null || true
  unset "pid[$n]"
done
gone=$(check_queryable 30)
if ((dns_left != 2)); then
  step leave2 0 "getaddrinfo($svc_name) returned $dns_left addresses after the scale-down, not 2"
elif ((gone == 0)); then
  step leave2 1 "2 pods left; all $acked acknowledged events queryable"
else
  step leave2 0 "$gone of $acked acknowledged events no longer queryable after the scale-down$( ((clean)) || echo '; a pod needed SIGKILL')"
fi
write_report
for name in up3 join4 leave2; do [[ ${result[$name]%% *} == 1 ]] || exit 1; done
exit 0
