"""A regroup's state moves with its regroup key (issue 7): a changed_state below
regroup(["service"]) keeps its memory when its services move to another node on a join, a
planned leave (SIGTERM) or a crash (kill -9), so it does not fire again for them; a counter
below regroup([]) keeps counting when the owner of the empty key changes. The same holds for
a regroup inside a by() template, which receives what every fork's copy sends."""

import signal

import pytest

from cluster_harness import (ChangesCluster, cluster_info, key_hash, local_hosts, owner,
                             wait_until)
from riemann_wire import Connection, make_event, msg_with

MODULE = """
import json, os
from dmon import by, changed_state, counter, index, regroup, with_
_out = open(os.environ["DMON_TEST_OUT"], "a", buffering=1)

class _Changes:
    def __init__(self, via):
        self.via = via

    def send(self, event):
        _out.write(json.dumps({"host": event.get("host"), "service": event.get("service"),
                               "state": event.get("state"), "via": self.via}) + "\\n")

stream = index()
changes_stream = regroup(["service"], changed_state(_Changes("top")))
total_stream = regroup([], counter(with_({"host": "total", "service": "events"}, index())))
# The same below by(): each host's fork sends under the template's address, and the template's
# regroup runs (and keeps the state of) what every fork sent, on the owner of the regroup key.
by_changes_stream = by(["host"], regroup(["service"], changed_state(_Changes("by"))))
by_total_stream = by(["host"], regroup([], counter(
    with_({"host": "by-total", "service": "events"}, index()))))
"""

VIAS = ("top", "by")  # a regroup at the root, and one in a by() template

HOSTS = [f"h{i}" for i in range(3)]
SERVICES = [f"svc-{i}" for i in range(40)]


class RegroupCluster(ChangesCluster):
    module = MODULE
    fields = ("host", "service", "state", "via")

    def fired(self):
        """{via: the changes its changed_state fired so far}."""
        out = {via: [] for via in VIAS}
        for host, service, state, via in self.changes():
            out[via].append((host, service, state))
        return out

    def fired_counts(self):
        return {via: len(changes) for via, changes in self.fired().items()}


def send_states(node, states):
    """{(host, service): state} in acked batches; the ack follows the regrouped run."""
    items = sorted(states.items())
    with Connection(node.tcp, node.host) as c:
        for start in range(0, len(items), 40):
            events = [make_event(host=h, service=s, state=st, ttl=3600.0, metric_sint64=1)
                      for (h, s), st in items[start:start + 40]]
            reply = c.request(msg_with(events))
            assert reply.ok, reply.error


def counter(node, name):
    return cluster_info(node)["counters"][name]


def total(node, host):
    with Connection(node.tcp, node.host) as c:
        reply = c.request(msg_with(query=f'host = "{host}"'))
    assert reply.ok, reply.error
    return [e.metric_sint64 or int(e.metric_d) or int(e.metric_f) for e in reply.events]


def counted(node, expected):
    for host in ("total", "by-total"):
        wait_until(lambda: total(node, host) == [expected], 15,
                   f"the regroup([]) count {host} at {expected}")


def each(n):
    return {via: n for via in VIAS}


def services_of(node_id, members):
    return {s for s in SERVICES if owner(key_hash(s), members) == node_id}


@pytest.fixture
def cluster(tmp_path):
    c = RegroupCluster(tmp_path, 3)
    try:
        yield c
    finally:
        c.stop_all()


@pytest.mark.parametrize("how,path", [("sigterm", "native"), ("kill9", "native"),
                                      ("sigterm", "python")])
def test_changed_state_below_regroup_does_not_refire_when_its_services_move(cluster, how, path):
    cluster.native = path == "native"
    states = {(h, s): "ok" for h in HOSTS for s in SERVICES}
    cluster.start_first(2)
    send_states(cluster.nodes[0], states)
    assert cluster.fired_counts() == each(len(states)), "every new key fires once"
    sent = len(states)
    counted(cluster.nodes[0], sent)
    # The test's copy of the ring agrees with the cluster's (checked on index entries).
    two = ["node-0", "node-1"]
    for i in range(2):
        owned = {h for h in HOSTS if owner(key_hash(h, "svc-0"), two) == f"node-{i}"}
        assert {h for h in local_hosts(cluster.nodes[i]) if h in owned} == owned

    # Join: node-2 takes the services it now owns with their forks.
    cluster.start(2, range(3))
    cluster.wait_members(3)
    three = ["node-0", "node-1", "node-2"]
    moved = services_of("node-2", three)
    assert moved, "node-2 owns some services"
    # The empty key (regroup([])) moves too: node-1 owned it, node-2 does now.
    assert owner(key_hash(), two) == "node-1" and owner(key_hash(), three) == "node-2"
    joined = cluster.nodes[2]
    wait_until(lambda: counter(joined, "state_handed_off_in") >= len(moved) + 1, 30,
               f"node-2 received the regroup state of {len(moved) + 1} keys")
    send_states(cluster.nodes[0], states)
    assert cluster.fired_counts() == each(len(states)), "no re-fire after the join"
    sent += len(states)
    counted(cluster.nodes[0], sent)

    # A real change still fires, once.
    for h in HOSTS:
        states[(h, SERVICES[0])] = "warning"
    send_states(cluster.nodes[1], states)
    assert cluster.fired_counts() == each(len(states) + len(HOSTS))
    sent += len(states)

    nodes = [cluster.nodes[i] for i in range(3)]
    since = [counter(n, "state_replication_rounds") for n in nodes]
    wait_until(lambda: all(counter(n, "state_replication_rounds") >= s + 2
                           for n, s in zip(nodes, since)), 30, "state on the replicas")

    gone = cluster.nodes[1]
    gone_services = services_of("node-1", three)
    assert gone_services
    survivors = [cluster.nodes[0], cluster.nodes[2]]
    if how == "sigterm":
        assert gone.stop() == 0
    else:
        gone.proc.send_signal(signal.SIGKILL)
        gone.proc.wait(10)
    for n in survivors:
        wait_until(lambda: len(cluster_info(n)["members"]) == 2, 30, "2 members")
    if how == "kill9":
        wait_until(lambda: sum(counter(n, "state_promoted") for n in survivors)
                   >= len(gone_services), 30, "the survivors imported the replicated state")
    before = cluster.fired_counts()
    send_states(cluster.nodes[0], states)
    assert cluster.fired_counts() == before, f"no re-fire after the {how}: {cluster.fired()}"
    sent += len(states)
    counted(cluster.nodes[0], sent)
