"""Tombstones across a restart: keys deleted while a node is down (kill -9) stay deleted
when it returns with its data directory. Real dmond processes on loopback (no namespaces)."""

import signal

import pytest

from cluster_harness import Cluster, cluster_info, settle, wait_until
from riemann_wire import Connection, make_event, msg_with


def send(node, hosts, metric, **fields):
    fields.setdefault("ttl", 3600.0)
    with Connection(node.tcp, node.host) as c:
        for start in range(0, len(hosts), 100):
            events = [make_event(host=h, service="svc", metric_sint64=metric, **fields)
                      for h in hosts[start:start + 100]]
            reply = c.request(msg_with(events))
            assert reply.ok, reply.error


def answered(node):
    with Connection(node.tcp, node.host) as c:
        reply = c.request(msg_with(query='service = "svc"'))
    assert reply.ok, reply.error
    return {e.host: e.metric_sint64 for e in reply.events}


def local(node):
    import json
    import urllib.parse
    from cluster_harness import http_get
    q = urllib.parse.quote('service = "svc"')
    return {e["host"] for e in json.loads(http_get(node, f"/index?query={q}&scope=local")[1])}



@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, 3)
    try:
        yield c
    finally:
        c.stop_all()


def test_keys_deleted_while_a_node_is_down_stay_deleted_when_it_returns(cluster):
    cluster.start_first(3)
    n0 = cluster.nodes[0]
    keep = [f"keep-{i}" for i in range(200)]
    gone = [f"gone-{i}" for i in range(300)]
    short = [f"short-{i}" for i in range(90)]
    send(n0, keep + gone + short, 1)
    away = cluster.nodes[1]
    wait_until(lambda: local(away), 30, "node-1 to own keys")
    away.proc.send_signal(signal.SIGKILL)
    away.proc.wait(10)
    survivors = [cluster.nodes[0], cluster.nodes[2]]
    for n in survivors:
        wait_until(lambda: len(cluster_info(n)["members"]) == 2, 30, "2 members")
    # Deleted while node-1 is down: explicitly, and by expiry of a newer short-lived write.
    send(n0, gone, 2, state="expired")
    send(n0, short, 2, ttl=1.0)
    dead = set(gone) | set(short)
    settle(lambda: None if not dead & set(answered(n0)) else "still answered", 60,
           "the survivors to delete and expire the keys")

    back = cluster.start(1, range(3))
    cluster.wait_members(3)
    nodes = [cluster.nodes[i] for i in range(3)]

    def nothing_came_back():
        for n in nodes:
            held = dead & local(n)
            if held:
                return f"{n.http} holds {len(held)} deleted keys, e.g. {sorted(held)[:3]}"
            got = answered(n)
            if set(got) != set(keep):
                return f"{n.http} answers {len(set(got) - set(keep))} deleted keys"
        return None

    settle(nothing_came_back, 60, "the deleted keys to stay deleted")
    passes = [cluster_info(n)["counters"]["rebalances"] for n in nodes]
    settle(lambda: None if all(cluster_info(n)["counters"]["rebalances"] >= p + 2
                               for n, p in zip(nodes, passes)) else "waiting", 60,
           "two repair passes")
    assert nothing_came_back() is None
    assert local(back), "node-1 owns keys again"
    logs = "".join(n.log() for n in nodes)
    assert "tombstones to node-1" in logs, "the survivors sent node-1 their tombstones"
