"""regroup() across shards and nodes: real dmond processes, results equal on 1 node and on 3."""

import json
import time
import urllib.parse
import urllib.request

import pytest

from cluster_harness import cluster_endpoints, peer_args
from conftest import start_node
from riemann_wire import Connection, make_event, msg_with

MODULE = """
import json, os
from dmon import by, counter, index, rate, regroup, store, with_
from dmon.runtime import current
_out = open(os.environ["DMON_TEST_OUT"], "a", buffering=1)
_at = os.environ.get("DMON_TEST_NODE", "n") + "/" + str(id(current()))  # node and shard

class _Rec:
    def send(self, e):
        _out.write(json.dumps({"at": _at, "host": e.get("host"), "service": e.get("service"),
                               "seq": e.get("metric")}) + "\\n")

rate_stream = regroup(["service"], rate(1, index(), store()))
by_service_stream = regroup(["service"], lambda: _Rec())
count_stream = regroup([], with_({"host": "cluster", "service": "events total", "metric": 1},
                                   counter(index())))
# Timer output into a regroup below by: one rate per host, every host's outputs gathered on
# the owner of [] (the forks send under their template's address).
timers_stream = by(["host"], rate(1, with_("service", "timer rates", regroup([], store()))))
"""

def ready(node):
    try:
        with urllib.request.urlopen(f"http://{node.host}:{node.http}/readyz", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


HOSTS = [f"host-{i}" for i in range(30)]
SERVICES = [f"svc-{i}" for i in range(5)]
ROUNDS = 4


def send_events(nodes):
    """Every (host, service) gets ROUNDS events with metric = round, each round spread over the
    nodes; returns the number of events. Every batch must be acked ok."""
    conns = [Connection(n.tcp, n.host) for n in nodes]
    try:
        for c in conns:
            c.__enter__()
        i = 0
        for rnd in range(ROUNDS):
            for h in HOSTS:
                events = [make_event(host=h, service=s, metric_sint64=rnd, ttl=300.0)
                          for s in SERVICES]
                reply = conns[i % len(conns)].request(msg_with(events))
                assert reply.ok, reply.error
                i += 1
    finally:
        for c in conns:
            c.__exit__(None, None, None)
    return ROUNDS * len(HOSTS) * len(SERVICES)


def query(node, q):
    with Connection(node.tcp, node.host) as c:
        reply = c.request(msg_with(query=q))
    assert reply.ok, reply.error
    return list(reply.events)


def history(node, q):
    url = (f"http://{node.host}:{node.http}/history?limit=100000&query=" + urllib.parse.quote(q))
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def regroup_metrics(node):
    """Sums of the regroup counters over the node's shards, from /metrics."""
    with urllib.request.urlopen(f"http://{node.host}:{node.http}/metrics", timeout=10) as r:
        text = r.read().decode()
    sums = {"out": 0.0, "in": 0.0, "unknown": 0.0}
    for line in text.splitlines():
        if line.startswith("dmon_stream_regrouped_events_total{"):
            direction = "out" if 'direction="out"' in line else "in"
            sums[direction] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("dmon_stream_regroup_unknown_events_total{"):
            sums["unknown"] += float(line.rsplit(" ", 1)[1])
    return sums


def results(nodes, total):
    """What the regroup streams computed, in a form that must not depend on the node count."""
    seen = [e for n in nodes for e in n.seen()]
    # The acks came back after the regrouped events ran, so everything is there already.
    assert len(seen) == total
    owner = {}
    for e in seen:  # one instance per service: the regroup target is one node and shard
        assert owner.setdefault(e["service"], e["at"]) == e["at"], e
    per_key = {}
    for e in seen:  # events of one original key keep their order through the hop
        per_key.setdefault((e["host"], e["service"]), []).append(e["seq"])
    assert all(v == list(range(ROUNDS)) for v in per_key.values())

    # One global counter: a query on any node covers the cluster (merged, one entry per key).
    counts = query(nodes[-1], 'service = "events total"')
    assert len(counts) == 1, counts

    # rate(1) emits, every second, a service's sum over that second: over all ticks the
    # outputs add up to the service's total whatever the tick boundaries were.
    want = {s: float(sum(range(ROUNDS)) * len(HOSTS)) for s in SERVICES}
    want["timer rates"] = sum(want.values())
    deadline = time.monotonic() + 30
    while True:
        sums, where = {}, {}
        for i, n in enumerate(nodes):
            for e in history(n, "service =~ \"svc-%\" or service = \"timer rates\""):
                sums[e["service"]] = sums.get(e["service"], 0.0) + e.get("metric", 0.0)
                where.setdefault(e["service"], set()).add(i)
        if all(abs(sums.get(s, 0.0) - v) < 1e-6 for s, v in want.items()):
            break
        assert time.monotonic() < deadline, (sums, want)
        time.sleep(0.3)
    assert all(len(w) == 1 for w in where.values()), where  # one rate per service
    return {"count": counts[0].metric_sint64 or counts[0].metric_d or counts[0].metric_f,
            "rate_sums": sums, "owners_per_service": {s: 1 for s in owner}}


def start_cluster(tmp_path, n, shards):
    endpoints = cluster_endpoints(n)
    nodes = []
    try:
        for i in range(n):
            args = ["--shards", str(shards)]
            if n > 1:
                args += peer_args(endpoints, i)
            nodes.append(start_node(tmp_path / f"c{n}-n{i}", MODULE, args=args,
                                    env={"DMON_TEST_NODE": f"node-{i}"}))
        deadline = time.monotonic() + 60
        while not all(ready(x) for x in nodes):
            assert time.monotonic() < deadline, [x.log()[-2000:] for x in nodes]
            time.sleep(0.2)
        if n > 1:
            for x in nodes:
                assert x.wait_log(rf"router: {n} live member\(s\)", timeout=30), x.log()
        return nodes
    except BaseException:
        for x in nodes:
            x.stop()
        raise


def run_on(tmp_path, n, shards, check_metrics=False):
    nodes = start_cluster(tmp_path, n, shards)
    try:
        for x in nodes:  # the rate roots stay native on both sides of the hop
            assert x.wait_log(r"root 'rate_stream' runs natively \(no GIL\)"), x.log()
            assert x.wait_log(r"root 'timers_stream' runs natively \(no GIL\)"), x.log()
        total = send_events(nodes)
        out = results(nodes, total)
        assert out["count"] == total
        for x in nodes:
            assert "does not have" not in x.log()
        if check_metrics:
            # Every event went through two regroups (per service, global), so events crossed
            # shards, and /metrics says so; none named an unknown regroup.
            m = regroup_metrics(nodes[0])
            assert m["out"] > 0 and m["in"] > 0 and m["unknown"] == 0, m
        return out
    finally:
        for x in nodes:
            x.stop()


def test_one_node_with_four_shards_computes_one_aggregate(tmp_path):
    run_on(tmp_path, 1, 4, check_metrics=True)


def test_three_nodes_compute_what_one_node_computes(tmp_path):
    one = run_on(tmp_path, 1, 1)
    three = run_on(tmp_path, 3, 2)
    assert three == one


MISMATCHED = """
from dmon import regroup, index
{name} = regroup([], index())
"""


def test_nodes_with_different_modules_fail_the_ack_and_say_why(tmp_path):
    endpoints = cluster_endpoints(2)
    nodes = []
    try:
        for i in range(2):
            nodes.append(start_node(tmp_path / f"m{i}", MISMATCHED.format(name=f"stream_{i}"),
                                    args=peer_args(endpoints, i)))
        for x in nodes:
            assert x.wait_log(r"router: 2 live member\(s\)", timeout=30), x.log()
        errors = []
        with Connection(nodes[0].tcp, nodes[0].host) as c:
            for h in range(40):  # keys on both nodes: one side's regroup is unknown on the other
                reply = c.request(msg_with([make_event(host=f"h{h}", service="s")]))
                if not reply.ok:
                    errors.append(reply.error)
        assert errors
        assert all("every node must load the same stream module" in e for e in errors), errors
        assert any("does not have" in x.log() for x in nodes)
        assert sum(regroup_metrics(x)["unknown"] for x in nodes) >= len(errors)
    finally:
        for x in nodes:
            x.stop()
