"""Several dmond nodes on loopback: ownership, forwarding, order, replicas, cluster-wide reads."""

import re
import time

import pytest

from cluster_harness import (Cluster, cluster_hosts, cluster_info, http_get, load_keys,
                             local_hosts, wait_until)
from riemann_wire import Connection, make_event, msg_with


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, 3)
    try:
        c.start_first(3)
        for n in c.live():  # every router has seen the full member list
            assert n.wait_log(r"router: 3 live member\(s\)", timeout=30), n.log()
        yield [c.nodes[i] for i in range(3)]
    finally:
        c.stop_all()


def test_thousand_keys_owned_once_replicated_and_queryable_everywhere(cluster):
    keys = load_keys(cluster[0], 1000)
    owned = [local_hosts(n) for n in cluster]
    assert all(owned), "every node owns some of 1000 keys"
    assert sum(len(k) for k in owned) == 1000, "each key in exactly one node's index"
    assert set.union(*owned) == keys
    # Replication factor 2: one copy of every key besides its owner's, acked before the reply.
    infos = [cluster_info(n) for n in cluster]
    assert sum(i["replicas_held"] for i in infos) == 1000, infos
    for i, info in zip(range(3), infos):
        assert info["keys_owned"] == len(owned[i])
        assert [m["node"] for m in info["members"]] == ["node-0", "node-1", "node-2"]
    for n in cluster:
        assert cluster_hosts(n) == keys
    # HTTP reads are cluster-wide too.
    _, body = http_get(cluster[2], "/index?query=service%20%3D%20%22svc%22")
    assert len(re.findall(r'"host":', body)) == 1000
    _, metrics = http_get(cluster[1], "/metrics")
    m = re.search(r"^dmon_cluster_replicated_out_total (\d+)$", metrics, re.M)
    assert m and int(m.group(1)) > 0


def test_per_key_order_is_kept_across_the_hop(cluster):
    hosts = [f"ordered-{i}" for i in range(30)]
    with Connection(cluster[1].tcp, cluster[1].host) as c:
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
    # The index holds each key's last event, wherever it is asked.
    with Connection(cluster[2].tcp, cluster[2].host) as c:
        reply = c.request(msg_with(query='host =~ "ordered-%"'))
    assert reply.ok and len(reply.events) == 30
    assert all(e.metric_sint64 == 9 for e in reply.events)


def test_pipelined_clients_forwards_coalesce_keep_order_and_ack_after_the_owner(cluster):
    # Several connections with many requests in flight each: forwards to one owner coalesce
    # across ingests (the router's per-peer queue), yet every key keeps its order and a reply
    # still means the owner ran the events (the index answers at once, on every node).
    conns, per_conn, hosts_per = 4, 15, 40
    clients = [Connection(cluster[1].tcp, cluster[1].host) for _ in range(conns)]
    try:
        for seq in range(per_conn):
            for c, conn in enumerate(clients):
                conn.send(msg_with([make_event(host=f"pipe{c}-{h}", service="p", metric_sint64=seq)
                                    for h in range(hosts_per)]))
        for conn in clients:
            for _ in range(per_conn):
                reply = conn.recv_reply()
                assert reply is not None and reply.ok, reply
    finally:
        for conn in clients:
            conn.close()
    keys = {f"pipe{c}-{h}" for c in range(conns) for h in range(hosts_per)}
    for n in cluster:
        with Connection(n.tcp, n.host) as c:
            reply = c.request(msg_with(query='host =~ "pipe%"'))
        assert reply.ok and {e.host for e in reply.events} == keys
        assert all(e.metric_sint64 == per_conn - 1 for e in reply.events)
    deadline = time.monotonic() + 15
    while True:
        per_host = {}
        for n in cluster:
            for e in n.seen():
                if e["host"].startswith("pipe"):
                    per_host.setdefault(e["host"], []).append(e["seq"])
        if sum(map(len, per_host.values())) >= len(keys) * per_conn or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert all(per_host.get(h) == list(range(per_conn)) for h in keys)
    assert cluster_info(cluster[1])["counters"]["forwarded_out"] > 0


def test_rekeyed_index_writes_land_on_their_owner(tmp_path):
    # Every input key writes one output key ("total"); it must live on its owner only.
    rekey = """
from dmon import index, with_
stream = with_({"host": "total", "service": "count"}, index())
"""
    from conftest import start_node
    from cluster_harness import cluster_endpoints, peer_args, ready
    endpoints = cluster_endpoints(3)
    nodes = []
    try:
        for i in range(3):
            nodes.append(start_node(tmp_path / f"r{i}", rekey, args=peer_args(endpoints, i)))
        wait_until(lambda: all(ready(n) for n in nodes), 60, "readiness")
        for n in nodes:
            wait_until(lambda: len(cluster_info(n)["members"]) == 3, 60, "members")
        load_keys(nodes[0], 300, prefix="in")
        holders = wait_until(
            lambda: [i for i, n in enumerate(nodes) if "total" in local_hosts(n)], 15,
            "the total key indexed")
        assert len(holders) == 1, holders
        assert sum(cluster_info(n)["counters"]["index_forwarded_in"] for n in nodes) > 0
        for n in nodes:
            assert cluster_hosts(n) == {"total"}
    finally:
        for n in nodes:
            n.stop()


def test_forwarding_is_counted(cluster):
    with Connection(cluster[2].tcp, cluster[2].host) as c:
        assert c.request(msg_with([make_event(host=f"k{i}", service="x") for i in range(60)])).ok
    node = cluster[2]
    assert node.stop() == 0
    log = node.log()
    m = re.search(r"stats cluster: forwarded_out=(\d+)", log)
    assert m and int(m.group(1)) > 0, log[-3000:]


def test_a_subscription_on_one_node_sees_writes_on_every_node(cluster):
    import http.client
    import json
    import threading
    conn = http.client.HTTPConnection(cluster[0].host, cluster[0].http, timeout=30)
    conn.request("GET", "/sse/index?query=service%20%3D%20%22live%22")
    resp = conn.getresponse()
    assert resp.status == 200
    seen = set()

    def read():
        try:
            for raw in resp.fp:
                line = raw.decode()
                if line.startswith("data:"):
                    seen.add(json.loads(line[5:])["host"])
        except (OSError, ValueError):
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # Peers relay once this node's keeper asked them to; probe until a relayed write shows.
        with Connection(cluster[1].tcp, cluster[1].host) as c:
            for i in range(100):
                probe = f"probe-{i}"
                assert c.request(msg_with([make_event(host=probe, service="live")])).ok
                deadline = time.monotonic() + 0.3
                while probe not in seen and time.monotonic() < deadline:
                    time.sleep(0.02)
                if probe in seen and probe not in local_hosts(cluster[0]):
                    break
            else:
                pytest.fail("no write owned by another node reached the subscriber")
            hosts = {f"live-{i}" for i in range(60)}
            assert c.request(msg_with([make_event(host=h, service="live", ttl=300.0)
                                       for h in sorted(hosts)])).ok
        wait_until(lambda: hosts <= seen, 15, "every write relayed")
    finally:
        conn.close()


def test_a_taken_cluster_port_stops_the_node_with_an_error_instead_of_hanging(tmp_path):
    """Start-up fails after the actors exist: the node ends them and exits (it used to wait
    forever for the keeper's thread, held by a handle that outlived the actor system)."""
    import socket as _socket
    import subprocess
    from conftest import DMOND
    held = _socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    port = held.getsockname()[1]
    proc = subprocess.Popen([DMOND, "--tcp-port", "0", "--udp-port", "0", "--json-udp-port", "0",
                             "--http-port", "0", "--data-dir", str(tmp_path / "data"),
                             "--peer-port", str(port), "--node-id", "x", "--peers", "127.0.0.1:1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 2
        assert f"cannot open the cluster port 127.0.0.1:{port}" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        held.close()
