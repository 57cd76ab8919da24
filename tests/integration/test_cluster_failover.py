"""Cluster membership changes with real dmond nodes: join, planned leave, crash and return."""

import signal
import time

import pytest

from cluster_harness import (Cluster, cluster_hosts, cluster_info, load_keys, local_hosts,
                             wait_until)
from riemann_wire import Connection, make_event, msg_with


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, 3)
    try:
        yield c
    finally:
        c.stop_all()


def owned_once(nodes, keys):
    """Each key is in exactly one of the nodes' own indexes."""
    owned = [local_hosts(n) for n in nodes]
    return all(owned) and sum(len(o) for o in owned) == len(keys) and set.union(*owned) == keys


def test_join_moves_keys_without_losing_any(cluster):
    cluster.start_first(2)
    keys = load_keys(cluster.nodes[0], 1000)
    assert owned_once(list(cluster.nodes.values()), keys)
    cluster.start(2, range(3))
    # Queries stay complete while the third node takes its keys.
    for _ in range(20):
        assert cluster_hosts(cluster.nodes[0]) == keys
    cluster.wait_members(3)
    nodes = [cluster.nodes[i] for i in range(3)]
    wait_until(lambda: owned_once(nodes, keys), 30, "keys owned once over 3 nodes")
    for n in nodes:
        assert cluster_hosts(n) == keys
    assert cluster_info(nodes[2])["counters"]["handed_off_in"] > 0
    wait_until(lambda: sum(cluster_info(n)["replicas_held"] for n in nodes) == 1000, 30,
               "one replica per key")


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_leave_or_crash_keeps_every_acked_entry_and_ownership_returns(cluster, how):
    cluster.start_first(3)
    keys = load_keys(cluster.nodes[0], 1000)
    # Newer entries for every key, acked while all three are up.
    load_keys(cluster.nodes[2], 1000, metric=2)
    gone = cluster.nodes[1]
    before = local_hosts(gone)
    assert before
    if how == "sigterm":
        assert gone.stop() == 0
        m = gone.wait_log(r"handed (\d+) index entries", timeout=1)
        assert m and int(m.group(1)) == len(before), "every entry it owned was handed off"
    else:
        gone.proc.send_signal(signal.SIGKILL)
        gone.proc.wait(10)
    survivors = [cluster.nodes[0], cluster.nodes[2]]
    for n in survivors:
        wait_until(lambda: len(cluster_info(n)["members"]) == 2, 30, "2 members")
    wait_until(lambda: owned_once(survivors, keys), 30, "survivors own every key")
    for n in survivors:
        assert cluster_hosts(n) == keys
    # Written while node-1 is away: the survivors' newer entries must go back with its keys.
    load_keys(cluster.nodes[0], 1000, metric=3)
    back = cluster.start(1, range(3))
    cluster.wait_members(3)
    nodes = [cluster.nodes[i] for i in range(3)]
    wait_until(lambda: owned_once(nodes, keys), 30, "keys owned once after the return")
    assert local_hosts(back) == before, "the returning node owns its keys again"
    from riemann_wire import Connection, msg_with
    for n in nodes:
        with Connection(n.tcp, n.host) as c:
            reply = c.request(msg_with(query="true"))
        assert reply.ok
        assert {e.host for e in reply.events} == keys
        assert all(e.metric_sint64 == 3 for e in reply.events), "newest entries win"


def test_replicas_answer_for_a_frozen_member_and_too_many_frozen_is_an_error(tmp_path):
    c = Cluster(tmp_path, 3, extra_args=["--cluster-query-timeout", "1"])
    frozen = []
    try:
        c.start_first(3)
        keys = load_keys(c.nodes[0], 1000)
        from riemann_wire import Connection, msg_with
        # Frozen (SIGSTOP): still a member until CAF's heartbeat drops it (10 s), but silent.
        for i in (1, 2):
            c.nodes[i].proc.send_signal(signal.SIGSTOP)
            frozen.append(c.nodes[i])
            with Connection(c.nodes[0].tcp, c.nodes[0].host) as conn:
                reply = conn.request(msg_with(query="true"))
            if i == 1:
                assert reply.ok, reply.error
                assert {e.host for e in reply.events} == keys, "replicas stand in for node-1"
            else:
                assert not reply.ok
                assert "cluster query incomplete" in reply.error and "node-2" in reply.error
    finally:
        for n in frozen:
            n.proc.send_signal(signal.SIGCONT)
        c.stop_all()


def test_a_forward_to_a_member_that_left_the_view_fails_at_once_and_the_retry_lands(tmp_path):
    """A frozen owner holds a forwarded batch unanswered; when the heartbeat drops it from the
    view, the client is told at once (not after the forward timeout) and its retry lands on
    the key's new owner."""
    c = Cluster(tmp_path, 3)
    frozen = None
    try:
        c.start_first(3)
        load_keys(c.nodes[0], 300)
        key = sorted(local_hosts(c.nodes[2]))[0]
        frozen = c.nodes[2]
        frozen.proc.send_signal(signal.SIGSTOP)
        event = make_event(host=key, service="svc", ttl=3600.0, metric_sint64=7)
        # Unanswered until the heartbeat (10 s) drops node-2; the forward timeout is 30 s.
        with Connection(c.nodes[0].tcp, c.nodes[0].host, timeout=60.0) as conn:
            reply = conn.request(msg_with([event]))
        assert not reply.ok
        assert "node-2" in reply.error and "left the cluster view" in reply.error, reply.error

        def retried():
            with Connection(c.nodes[0].tcp, c.nodes[0].host, timeout=60.0) as conn:
                return conn.request(msg_with([event])).ok

        wait_until(retried, timeout=60, what="the retry to be acked by a survivor")
        with Connection(c.nodes[1].tcp, c.nodes[1].host) as conn:
            found = conn.request(msg_with(query=f'host = "{key}"'))
        assert found.ok and [e.metric_sint64 for e in found.events] == [7]
    finally:
        if frozen:
            frozen.proc.send_signal(signal.SIGCONT)
        c.stop_all()


@pytest.mark.parametrize("gap", [0.0, 1.5])
def test_two_of_four_leaving_at_once_keep_every_acked_entry(tmp_path, gap):
    """A scale-down by two (StatefulSet podManagementPolicy Parallel): SIGTERM to two nodes at
    the same moment, or the second one later (`gap` s: the first may already have handed
    entries to it, which it must hand on in turn). Keys whose owner and replica were both leaving,
    and entries one leaver would hand to the other, must still end up on the staying nodes."""
    c = Cluster(tmp_path, 4)
    try:
        c.start_first(4)
        keys = load_keys(c.nodes[0], 1000)
        load_keys(c.nodes[3], 1000, metric=2)
        leavers = [c.nodes[1], c.nodes[2]]
        held = [local_hosts(n) for n in leavers]
        assert all(held)
        leavers[0].proc.send_signal(signal.SIGTERM)
        time.sleep(gap)
        leavers[1].proc.send_signal(signal.SIGTERM)
        # Writes keep coming while they leave: acked ones must survive too.
        acked = {}
        with Connection(c.nodes[0].tcp, c.nodes[0].host) as conn:
            for round_ in range(50):
                if all(n.proc.poll() is not None for n in leavers):
                    break
                batch = [f"during-{round_}-{i}" for i in range(20)]
                reply = conn.request(msg_with([make_event(host=h, service="svc", ttl=3600.0,
                                                          metric_sint64=5) for h in batch]))
                if reply.ok:
                    acked.update(dict.fromkeys(batch))
                time.sleep(0.05)
        for n in leavers:
            assert n.proc.wait(60) == 0
        for n, before in zip(leavers, held):
            m = n.wait_log(r"handed (\d+) index entries", timeout=1)
            assert m and int(m.group(1)) >= len(before), n.log()[-2000:]
            assert "no staying member acknowledged" not in n.log()
        survivors = [c.nodes[0], c.nodes[3]]
        for n in survivors:
            wait_until(lambda: len(cluster_info(n)["members"]) == 2, 30, "2 members")
        everything = keys | set(acked)
        wait_until(lambda: owned_once(survivors, everything), 30, "survivors own every key")
        for n in survivors:
            with Connection(n.tcp, n.host) as conn:
                reply = conn.request(msg_with(query="true"))
            assert reply.ok, reply.error
            got = {e.host: e.metric_sint64 for e in reply.events}
            assert set(got) == everything, f"missing {len(everything - set(got))}"
            assert all(got[h] == 2 for h in keys), "the newest acked entries survive"
            assert cluster_info(n)["counters"]["handoff_unplaced"] == 0
    finally:
        c.stop_all()
