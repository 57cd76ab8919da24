"""Stream state moves with its keys (issue 7): a changed_state stream on a cluster does not fire
again for keys whose state did not change when they move to another node on a join, a planned
leave (SIGTERM) or a crash (kill -9), and after the node returns, ownership and the newer state
move back."""

import signal

import pytest

from cluster_harness import ChangesCluster, cluster_info, local_hosts, wait_until
from riemann_wire import Connection, make_event, msg_with

# changed_state runs natively (by + changed in C++); each change is written to this node's file.
CHANGES = """
import json, os
from dmon import changed_state, index
_out = open(os.environ["DMON_TEST_OUT"], "a", buffering=1)

class _Changes:
    def send(self, event):
        _out.write(json.dumps({"host": event.get("host"), "state": event.get("state")}) + "\\n")

stream = index()
changes_stream = changed_state(_Changes())
"""

KEYS = [f"key-{i}" for i in range(300)]


class StateCluster(ChangesCluster):
    module = CHANGES
    fields = ("host", "state")


def send_states(node, states):
    """One acked batch per 100 keys: {host: state}; the ack follows the streams' run."""
    items = sorted(states.items())
    with Connection(node.tcp, node.host) as c:
        for start in range(0, len(items), 100):
            events = [make_event(host=h, service="svc", state=s, ttl=3600.0, metric_sint64=1)
                      for h, s in items[start:start + 100]]
            reply = c.request(msg_with(events))
            assert reply.ok, reply.error


def owned_once(nodes):
    owned = [local_hosts(n) for n in nodes]
    return all(owned) and sum(map(len, owned)) == len(KEYS) and set.union(*owned) == set(KEYS)


def counter(node, name):
    return cluster_info(node)["counters"][name]


def rounds(nodes):
    return [counter(n, "state_replication_rounds") for n in nodes]


def state_replicated(nodes, since):
    """Every key's latest state is on its replica: each node finished two replication rounds
    after `since` (so one of them started after the last change), one held slice per key."""
    return (all(r >= s + 2 for r, s in zip(rounds(nodes), since))
            and sum(cluster_info(n)["state_replicas_held"] for n in nodes) == len(KEYS))


@pytest.fixture
def cluster(tmp_path):
    c = StateCluster(tmp_path, 3)
    try:
        yield c
    finally:
        c.stop_all()


@pytest.mark.parametrize("how,path", [("sigterm", "native"), ("kill9", "native"),
                                      ("kill9", "python")])
def test_changed_state_does_not_refire_for_moved_keys(cluster, how, path):
    cluster.native = path == "native"
    states = {h: "ok" for h in KEYS}
    cluster.start_first(2)
    send_states(cluster.nodes[0], states)
    assert len(cluster.changes()) == len(KEYS), "every new key fires once"

    # Join: the third node takes about a third of the keys, with their state.
    cluster.start(2, range(3))
    cluster.wait_members(3)
    nodes = [cluster.nodes[i] for i in range(3)]
    wait_until(lambda: owned_once(nodes), 30, "keys owned once over 3 nodes")
    joined = cluster.nodes[2]
    wait_until(lambda: counter(joined, "state_handed_off_in") == len(local_hosts(joined)), 30,
               "the joined node received the state of its keys")
    send_states(cluster.nodes[0], states)
    assert len(cluster.changes()) == len(KEYS), "no re-fire after the join"

    # Real changes still fire (the test can see a re-fire), and reach the replicas.
    for h in KEYS[:10]:
        states[h] = "warning"
    send_states(cluster.nodes[1], states)
    assert len(cluster.changes()) == len(KEYS) + 10
    since = rounds(nodes)
    wait_until(lambda: state_replicated(nodes, since), 30, "state on the replicas")

    gone = cluster.nodes[1]
    gone_keys = local_hosts(gone)
    assert gone_keys
    survivors = [cluster.nodes[0], cluster.nodes[2]]
    if how == "sigterm":
        # Changed just before the leave, perhaps not replicated yet: the leaver's final
        # handoff carries these.
        for h in sorted(gone_keys)[-5:]:
            states[h] = "unknown"
        before = len(cluster.changes())
        send_states(cluster.nodes[0], states)
        assert len(cluster.changes()) == before + 5
        assert gone.stop() == 0
    else:
        gone.proc.send_signal(signal.SIGKILL)
        gone.proc.wait(10)
    for n in survivors:
        wait_until(lambda: len(cluster_info(n)["members"]) == 2, 30, "2 members")
    wait_until(lambda: owned_once(survivors), 30, "survivors own every key")
    if how == "kill9":
        wait_until(lambda: sum(counter(n, "state_promoted") for n in survivors) >= len(gone_keys),
                   30, "the survivors imported the replicated state")
    # A leaver exits only once its handoffs were answered: its final state (of keys changed
    # since it last replicated them) is on the survivors.
    before = len(cluster.changes())
    send_states(cluster.nodes[0], states)
    assert len(cluster.changes()) == before, f"no re-fire after the {how}"

    # Changed while node-1 is away: the survivors' newer state must go back with its keys.
    away = sorted(gone_keys)[:5]
    for h in away:
        states[h] = "critical"
    send_states(cluster.nodes[2], states)
    assert len(cluster.changes()) == before + 5
    back = cluster.start(1, range(3))
    cluster.wait_members(3)
    nodes = [cluster.nodes[i] for i in range(3)]
    wait_until(lambda: owned_once(nodes), 30, "keys owned once after the return")
    assert local_hosts(back) == gone_keys, "the returning node owns its keys again"
    wait_until(lambda: counter(back, "state_handed_off_in") >= len(gone_keys), 30,
               "the survivors handed the state back")
    before = len(cluster.changes())
    send_states(cluster.nodes[0], states)
    assert cluster.changes()[before:] == [], "no re-fire after the return"
