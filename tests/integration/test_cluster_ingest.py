"""The ingest path in a cluster: owned events go straight to the shards, the rest are forwarded;
per-key order holds while a key's owner changes, and an ack means the replicas have the writes."""

import threading
import time

import pytest

from cluster_harness import Cluster, cluster_hosts, cluster_info, local_hosts, wait_until
from riemann_wire import Connection, make_event, msg_with, send_udp


# The harness's recorder, slowed down (the shards fall behind the client, so that when a key
# changes owner its earlier events still wait on the old way while the new way is idle), and
# noting when each event ran (CLOCK_MONOTONIC: one clock for every process of the machine).
SLOW_RECORDER = """
import json, os, time
from dmon import index
_out = open(os.environ["DMON_TEST_OUT"], "a", buffering=1)

class _Rec:
    def send(self, event):
        time.sleep(0.0002)
        _out.write(json.dumps({"host": event.get("host"), "seq": event.get("metric"),
                               "at": time.monotonic()}) + "\\n")

stream = index()
record_stream = _Rec()
"""


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, 3)
    try:
        yield c
    finally:
        c.stop_all()


def test_per_key_order_holds_while_keys_change_owner_under_a_pipelined_client(cluster):
    # A client pipelines batches for 60 keys to node-0 while node-2 joins: about a third of
    # the keys move (from node-0's own shards or from node-1 to node-2) mid-stream. Each
    # key's events must run in the order sent, the ones sent before the move on the old owner
    # and all later ones on the new owner: none overtakes an earlier one that went the other way.
    cluster.start_first(2, module=SLOW_RECORDER)
    hosts = [f"mover-{i}" for i in range(60)]
    # Many batches in flight, so that at the view change the old way still holds some while
    # the new way is idle: without the connection's hold, later events overtake there.
    window, max_batches = 32, 50000
    sent, acked, failures = [0], [0], []
    stop = threading.Event()

    def client():
        # Runs until told to (the join happened mid-stream) or max_batches, then waits for
        # every batch sent to be answered.
        with Connection(cluster.nodes[0].tcp, cluster.nodes[0].host) as c:
            while True:
                while not stop.is_set() and sent[0] < max_batches and sent[0] - acked[0] < window:
                    c.send(msg_with([make_event(host=h, service="o", metric_sint64=sent[0])
                                     for h in hosts]))
                    sent[0] += 1
                if sent[0] == acked[0]:
                    return
                reply = c.recv_reply()
                if reply is None or not reply.ok:
                    failures.append(reply)
                    return
                acked[0] += 1

    t = threading.Thread(target=client)
    t.start()
    try:
        wait_until(lambda: acked[0] >= 50, 30, "batches acked before the join")
        cluster.start(2, range(3), SLOW_RECORDER)
        cluster.wait_members(3)
        at_join = acked[0]
        wait_until(lambda: acked[0] >= at_join + 100 or acked[0] >= max_batches, 60,
                   "batches acked after the join")
    finally:
        stop.set()
        t.join(120)
    assert not t.is_alive()
    assert not failures, failures
    total = sent[0]
    nodes = [cluster.nodes[i] for i in range(3)]

    def runs():
        per = {}
        for i, n in enumerate(nodes):
            for e in n.seen():
                if e["host"].startswith("mover-"):
                    per.setdefault(e["host"], {}).setdefault(i, []).append((e["seq"], e["at"]))
        return per

    wait_until(lambda: sum(len(s) for p in runs().values() for s in p.values()) >= 60 * total,
               60, "every event recorded")
    per = runs()
    moved = 0
    for h in hosts:
        on = {node: [seq for seq, _ in ran] for node, ran in per[h].items()}
        seqs = sorted(s for ran in on.values() for s in ran)
        assert seqs == list(range(total)), f"{h}: events lost or run twice"
        for node, ran in on.items():
            assert ran == sorted(ran), f"{h} out of order on node-{node}"
        if len(on) > 1:
            moved += 1
            assert len(on) == 2, f"{h} ran on {sorted(on)}"
            (a, old), (b, new) = sorted(per[h].items(), key=lambda kv: kv[1][0][0])
            # Every event sent before the move ran on the old owner, every later one on the new
            # owner, and the new owner ran none of them before the old owner ran its last.
            assert old[-1][0] < new[0][0]
            assert old[-1][1] <= new[0][1], (
                f"{h}: event {new[0][0]} ran on node-{b} {old[-1][1] - new[0][1]:.4f} s before "
                f"event {old[-1][0]} on node-{a}")
    assert moved > 0, "the join moved none of the keys: nothing was tested"


def test_an_acked_batch_of_owned_keys_is_on_the_replica(cluster):
    # Replication 2 on two nodes: every key has a copy on the other node. Batches go to
    # node-0 (which owns about half of the keys and runs those on its own shards); once a batch
    # is acked, the replicas of its keys are held, the owned ones' on node-1 included.
    cluster.start_first(2)
    nodes = [cluster.nodes[0], cluster.nodes[1]]
    with Connection(nodes[0].tcp, nodes[0].host) as c:
        for b in range(5):
            reply = c.request(msg_with([make_event(host=f"rep-{b}-{i}", service="r", ttl=3600.0)
                                        for i in range(100)]))
            assert reply.ok, reply.error
            infos = [cluster_info(n) for n in nodes]
            assert sum(i["replicas_held"] for i in infos) == 100 * (b + 1), infos
            assert infos[0]["keys_owned"] > 0 and infos[1]["replicas_held"] > 0
    assert cluster_info(nodes[0])["counters"]["forwarded_out"] > 0


def test_udp_events_in_a_cluster_land_on_their_owners(cluster):
    # A UDP datagram's events take the same split as a TCP read: owned ones to the local
    # shards, the others forwarded. Every key ends up in exactly one node's own index.
    cluster.start_first(2)
    nodes = [cluster.nodes[0], cluster.nodes[1]]
    keys = {f"udp-{i}" for i in range(200)}
    for b in range(10):
        batch = msg_with([make_event(host=f"udp-{b * 20 + i}", service="u", ttl=3600.0)
                          for i in range(20)])
        send_udp(nodes[0].udp, batch, nodes[0].host)
    wait_until(lambda: cluster_hosts(nodes[1], 'host =~ "udp-%"') == keys, 30,
               "every UDP key queryable")
    owned = [local_hosts(n) & keys for n in nodes]
    assert all(owned) and not (owned[0] & owned[1]) and owned[0] | owned[1] == keys
    assert cluster_info(nodes[0])["counters"]["forwarded_out"] > 0
