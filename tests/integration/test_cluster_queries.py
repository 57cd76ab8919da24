"""Cluster-wide queries wait for silent members without holding up other clients of the node."""

import json
import os
import signal
import threading
import time
import urllib.error

import pytest

from cluster_harness import Cluster, HeldThreads, http_get, load_keys, local_hosts
from riemann_wire import Connection, make_event, msg_with

# Long enough that the prompt requests below finish well inside it on a busy machine; short
# enough that CAF's heartbeat (10 s) has not dropped the frozen member by then.
QUERY_TIMEOUT = 6


def test_a_silent_member_costs_only_the_asking_client_the_timeout(tmp_path):
    """With node-2 frozen, cluster-wide queries on node-0 (one over HTTP, several over TCP, more
    than the CAF scheduler has threads) wait for it until the query timeout. Meanwhile the same
    node answers /healthz, a scope=local query, an acked TCP write and a TCP query it refuses
    itself at once: they finish before the first slow query does. Before the scatter was asynchronous, the HTTP query held
    the HTTP I/O thread and each TCP query a CAF worker, so all of them waited too."""
    c = Cluster(tmp_path, 3, extra_args=["--cluster-query-timeout", str(QUERY_TIMEOUT),
                                         "--replication", "1"])
    frozen = None
    try:
        c.start_first(3)
        load_keys(c.nodes[0], 300)
        a = c.nodes[0]
        own_key = sorted(local_hosts(a))[0]  # acked by node-0 alone (replication 1)
        frozen = c.nodes[2]
        frozen.proc.send_signal(signal.SIGSTOP)

        finished = []  # names, in the order their answers came
        outcomes = {}
        lock = threading.Lock()

        def run(name, fn):
            try:
                outcome = fn()
            except Exception as e:  # noqa: BLE001 - recorded and asserted below
                outcome = e
            with lock:
                finished.append(name)
                outcomes[name] = outcome

        def http_status(path, timeout=60):
            try:
                return http_get(a, path, timeout=timeout)[0]
            except urllib.error.HTTPError as e:
                return e.code

        def tcp_query():
            with Connection(a.tcp, a.host, timeout=60.0) as conn:
                return conn.request(msg_with(query="true"))

        def tcp_bad_query():
            # A query the node refuses itself (it does not parse): no member is asked, but the
            # answer still goes through the connection's parser actor.
            with Connection(a.tcp, a.host, timeout=60.0) as conn:
                return conn.request(msg_with(query="service = "))

        def tcp_write():
            event = make_event(host=own_key, service="svc", ttl=3600.0, metric_sint64=9)
            with Connection(a.tcp, a.host, timeout=60.0) as conn:
                return conn.request(msg_with([event]))

        slow = [threading.Thread(target=run, args=("slow-http", lambda: http_status("/index?query=true")))]
        workers = max(4, os.cpu_count() or 1) + 2  # CAF's scheduler has max(cores, 4) threads
        slow += [threading.Thread(target=run, args=(f"slow-tcp-{i}", tcp_query))
                 for i in range(workers)]
        for t in slow:
            t.start()
        # Staging, not a timing assertion: let the slow queries reach the node first.
        time.sleep(1.0)
        prompt = [threading.Thread(target=run, args=(name, fn)) for name, fn in [
            ("healthz", lambda: http_status("/healthz")),
            ("local-query", lambda: http_status("/index?query=true&scope=local")),
            ("tcp-write", tcp_write),
            ("tcp-bad-query", tcp_bad_query),
        ]]
        for t in prompt:
            t.start()
        for t in prompt + slow:
            t.join(timeout=120)
        assert len(finished) == len(prompt) + len(slow), finished

        first_slow = min(finished.index(n) for n in finished if n.startswith("slow"))
        for name in ("healthz", "local-query", "tcp-write", "tcp-bad-query"):
            assert finished.index(name) < first_slow, f"{name} waited for the slow query: {finished}"
        assert outcomes["healthz"] == 200
        assert outcomes["local-query"] == 200
        assert outcomes["tcp-write"].ok, outcomes["tcp-write"].error
        assert not outcomes["tcp-bad-query"].ok and outcomes["tcp-bad-query"].error
        # Replication 1 and a member silent: refused, as documented (complete or refused).
        assert outcomes["slow-http"] == 503
        for i in range(workers):
            reply = outcomes[f"slow-tcp-{i}"]
            assert not reply.ok and "cluster query incomplete" in reply.error, reply
            assert "node-2" in reply.error
    finally:
        if frozen:
            frozen.proc.send_signal(signal.SIGCONT)
        c.stop_all()


def test_a_cluster_query_answered_later_is_complete_when_every_member_answers(tmp_path):
    """The asynchronous scatter still merges every member's share (all keys once, over HTTP and
    TCP), and a query that does not parse is refused at once."""
    c = Cluster(tmp_path, 3)
    try:
        c.start_first(3)
        keys = load_keys(c.nodes[0], 500)
        for n in c.nodes.values():
            _, body = http_get(n, "/index?query=true")
            hosts = [e["host"] for e in json.loads(body)]
            assert len(hosts) == len(set(hosts)) and set(hosts) == keys
            with Connection(n.tcp, n.host) as conn:
                reply = conn.request(msg_with(query='service = "svc"'))
            assert reply.ok and {e.host for e in reply.events} == keys
            with Connection(n.tcp, n.host) as conn:
                reply = conn.request(msg_with(query="service = "))
            assert not reply.ok and "parse" in reply.error.lower(), reply.error
    finally:
        c.stop_all()


def test_readiness_and_cluster_status_hold_up_no_other_request_while_the_cluster_actor_cannot_run(
        tmp_path):
    """/readyz and /cluster ask node-0's cluster actor for its status. With every thread of
    CAF's scheduler (and its I/O multiplexer) stopped, the cluster actor cannot answer; the two
    requests wait for it, while /healthz and /metrics, asked after them, are answered on the
    HTTP I/O thread meanwhile. Once the threads go on, both are answered. Before the status was
    asked asynchronously, each held the HTTP I/O thread for up to 2 s and the others came
    after them."""
    refused = HeldThreads.refused()
    if refused:
        pytest.skip(f"ptrace is refused here: {refused}")
    c = Cluster(tmp_path, 2)
    held = None
    try:
        c.start_first(2)
        a = c.nodes[0]

        finished = []  # names, in the order their answers came
        outcomes = {}
        lock = threading.Lock()

        def run(name, path):
            try:
                outcome = http_get(a, path, timeout=60)
            except urllib.error.HTTPError as e:
                outcome = (e.code, e.read().decode())
            except Exception as e:  # noqa: BLE001 - recorded and asserted below
                outcome = e
            with lock:
                finished.append(name)
                outcomes[name] = outcome

        # CAF 0.17 names its scheduler's workers (and the middleman's thread) caf.multiplexer.
        held = HeldThreads(a.proc.pid, "caf.multiplexer")
        assert len(held.tids) >= 4, f"found {len(held.tids)} CAF worker threads to hold"
        slow = [threading.Thread(target=run, args=(name, path))
                for name, path in [("readyz", "/readyz"), ("cluster", "/cluster")]]
        for t in slow:
            t.start()
        # Staging, not a timing assertion: let the status requests reach the node first.
        time.sleep(1.0)
        prompt = [threading.Thread(target=run, args=(name, path))
                  for name, path in [("healthz", "/healthz"), ("metrics", "/metrics")]]
        for t in prompt:
            t.start()
        for t in prompt:
            t.join(timeout=60)
        with lock:
            finished.append("released")
        held.release()
        for t in slow:
            t.join(timeout=60)

        assert finished[:2] in (["healthz", "metrics"], ["metrics", "healthz"]), finished
        assert finished[2:3] == ["released"], f"a status came before the actor could run: {finished}"
        assert sorted(finished[3:]) == ["cluster", "readyz"], finished
        assert outcomes["healthz"] == (200, "ok\n")
        assert outcomes["metrics"][0] == 200 and "dmon_cluster_members" in outcomes["metrics"][1]
        assert outcomes["readyz"] == (200, "ready\n"), outcomes["readyz"]
        status, body = outcomes["cluster"]
        assert status == 200
        info = json.loads(body)
        assert [m["node"] for m in info["members"]] == ["node-0", "node-1"], body
        assert info["ready"] is True, body  # the cluster actor's answer, not a timeout
    finally:
        if held:
            held.release()
        c.stop_all()
