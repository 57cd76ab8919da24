"""Several dmond nodes on loopback: each key owned by one node, forwarded there, order kept."""

import re
import socket
import time
import urllib.request

import pytest

from conftest import start_node
from riemann_wire import Connection, make_event, msg_with

RECORDER = """
import json, os
from dmon import index
_out = open(os.environ["DMON_TEST_OUT"], "a", buffering=1)

class _Rec:
    def send(self, event):
        _out.write(json.dumps({"host": event.get("host"), "seq": event.get("metric")}) + "\\n")

stream = index()
record_stream = _Rec()
"""


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def ready(node):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{node.http}/readyz", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def local_keys(node):
    with Connection(node.tcp) as c:
        reply = c.request(msg_with(query="true"))
    assert reply.ok, reply.error
    return {e.host for e in reply.events}


@pytest.fixture
def cluster(tmp_path):
    ports = free_ports(3)
    peers = ",".join(f"127.0.0.1:{p}" for p in ports)
    nodes = [start_node(tmp_path / f"n{i}", RECORDER,
                        args=["--peer-port", str(p), "--node-id", f"node-{i}", "--peers", peers])
             for i, p in enumerate(ports)]
    try:
        deadline = time.monotonic() + 60
        while not all(ready(n) for n in nodes):
            assert time.monotonic() < deadline, [n.log()[-2000:] for n in nodes]
            time.sleep(0.2)
        for n in nodes:  # every router has seen the full member list
            assert n.wait_log(r"router: 3 live member\(s\)", timeout=30), n.log()
        yield nodes
    finally:
        for n in nodes:
            n.stop()


def test_each_key_is_owned_by_exactly_one_node(cluster):
    a = cluster[0]
    with Connection(a.tcp) as c:
        for batch in range(3):
            events = [make_event(host=f"host-{batch * 100 + i}", service="cpu", ttl=300.0)
                      for i in range(100)]
            reply = c.request(msg_with(events))
            assert reply.ok, reply.error
    owned = [local_keys(n) for n in cluster]
    assert all(owned), "every node owns some of 300 keys"
    assert sum(len(k) for k in owned) == 300
    assert set.union(*owned) == {f"host-{i}" for i in range(300)}


def test_per_key_order_is_kept_across_the_hop(cluster):
    hosts = [f"ordered-{i}" for i in range(30)]
    with Connection(cluster[1].tcp) as c:
        for seq in range(10):
            reply = c.request(msg_with([make_event(host=h, service="s", metric_sint64=seq)
                                        for h in hosts]))
            assert reply.ok, reply.error
    deadline = time.monotonic() + 15
    while True:
        per_host, owner = {}, {}
        for i, n in enumerate(cluster):
            for e in n.seen():
                per_host.setdefault(e["host"], []).append(e["seq"])
                assert owner.setdefault(e["host"], i) == i, "a key ran on two nodes"
        if sum(len(v) for v in per_host.values()) >= 300 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert all(per_host[h] == list(range(10)) for h in hosts)


def test_forwarding_is_counted(cluster):
    with Connection(cluster[2].tcp) as c:
        assert c.request(msg_with([make_event(host=f"k{i}", service="x") for i in range(60)])).ok
    node = cluster[2]
    assert node.stop() == 0
    log = node.log()
    m = re.search(r"stats cluster: forwarded_out=(\d+)", log)
    assert m and int(m.group(1)) > 0, log[-3000:]
