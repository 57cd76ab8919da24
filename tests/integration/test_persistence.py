"""The index, expiry and stream state live in RocksDB: restarts and kill -9 lose nothing acked."""

import re
import signal
import time

from conftest import RECORDER, start_node
from riemann_wire import Connection, make_event, msg_with

CHANGES = """
import json, os
from dmon import changed_state, index
_out = open(os.environ["DMON_TEST_OUT"], "a", buffering=1)

class _Rec:
    def send(self, event):
        _out.write(json.dumps({"changed": event.get("state"), "host": event.get("host")}) + "\\n")

stream = index()
changes_stream = changed_state(_Rec())
"""


def query(node, q):
    with Connection(node.tcp) as c:
        reply = c.request(msg_with(query=q))
    assert reply.ok, reply.error
    return sorted((e.host, e.service) for e in reply.events)


def send(node, *events):
    with Connection(node.tcp) as c:
        reply = c.request(msg_with([make_event(**e) for e in events]))
    assert reply.ok, reply.error


def test_index_survives_a_clean_restart(tmp_path):
    n = start_node(tmp_path, RECORDER)
    send(n, *[dict(host=f"h{i}", service="cpu", ttl=300.0) for i in range(50)])
    assert n.stop() == 0
    n = start_node(tmp_path, RECORDER)
    try:
        assert len(query(n, 'service = "cpu"')) == 50
        assert "50 index entries" in n.log()
    finally:
        n.stop()


def test_acked_index_entries_survive_kill_dash_nine(tmp_path):
    n = start_node(tmp_path, RECORDER)
    for i in range(20):
        send(n, dict(host=f"k{i}", service="mem", ttl=300.0))
    n.proc.send_signal(signal.SIGKILL)
    n.proc.wait()
    n = start_node(tmp_path, RECORDER)
    try:
        assert query(n, 'service = "mem"') == sorted((f"k{i}", "mem") for i in range(20))
    finally:
        n.stop()


def test_changed_state_does_not_refire_after_restart(tmp_path):
    n = start_node(tmp_path, CHANGES)
    send(n, dict(host="a", service="s", state="ok"))
    send(n, dict(host="a", service="s", state="warning"))
    assert [e["changed"] for e in n.wait_seen(2)] == ["ok", "warning"]
    assert n.stop() == 0
    n = start_node(tmp_path, CHANGES)
    try:
        send(n, dict(host="a", service="s", state="warning"))  # same state: no change
        send(n, dict(host="a", service="s", state="critical"))
        seen = n.wait_seen(3)
        assert [e["changed"] for e in seen] == ["ok", "warning", "critical"]
        assert "restored the state of" in n.log()
    finally:
        n.stop()


def test_expired_entries_are_removed_and_reinjected(node_factory):
    n = node_factory(args=["--reap-interval", "0.2"])
    send(n, dict(host="gone", service="disk", ttl=0.5, state="ok", metric_d=1.0),
         dict(host="stays", service="disk", ttl=300.0))
    seen = n.wait_seen(3)
    expired = [e for e in seen if e.get("state") == "expired"]
    assert len(expired) == 1
    assert set(expired[0]) == {"host", "service", "state", "time"}
    assert (expired[0]["host"], expired[0]["service"]) == ("gone", "disk")
    assert query(n, "true") == [("stays", "disk")]


def test_keep_keys_all_keeps_the_whole_event(node_factory):
    n = node_factory(args=["--reap-interval", "0.2", "--expired-keep-keys", "all"])
    send(n, dict(host="gone", service="disk", ttl=0.3, metric_d=2.5, tags=["t"]))
    expired = [e for e in n.wait_seen(2) if e.get("state") == "expired"]
    assert expired and expired[0]["metric"] == 2.5 and expired[0]["tags"] == ["t"]


def test_a_second_node_on_the_same_data_dir_is_refused(tmp_path):
    n = start_node(tmp_path / "a", RECORDER)
    try:
        proc = start_node(tmp_path / "b", RECORDER, data_dir=tmp_path / "a" / "data",
                          expect_ready=False)
        assert proc.returncode == 2
        log = (tmp_path / "b" / "dmond.log").read_text()
        assert str(tmp_path / "a" / "data") in log
    finally:
        n.stop()


def test_data_dir_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    proc = start_node(tmp_path / "n", RECORDER, data_dir=tmp_path / "afile", expect_ready=False)
    assert proc.returncode == 2
    assert "afile" in (tmp_path / "n" / "dmond.log").read_text()


# Version 1 and 2 of one module: the counter is unchanged, the throttle's parameters changed
# and the rate root is gone, so a restart on v2 keeps the counter's sum and drops the rest.
MODULE_V1 = """
import json, os
from dmon import counter, rate, throttle
_out = open(os.environ["DMON_TEST_OUT"], "a", buffering=1)

class _Rec:
    def __init__(self, name):
        self.name = name
    def send(self, event):
        _out.write(json.dumps({"from": self.name, "metric": event.get("metric")}) + "\\n")

counts_stream = counter(_Rec("counter"))
throttled_stream = throttle(THROTTLE_N, 60, _Rec("throttle"))
"""
MODULE_V2 = MODULE_V1.replace("THROTTLE_N", "7")
MODULE_V1 = MODULE_V1.replace("THROTTLE_N", "5") + "rates_stream = rate(5, _Rec('rate'))\n"


def test_a_changed_module_restores_what_still_matches_and_logs_what_it_dropped(tmp_path):
    n = start_node(tmp_path, MODULE_V1)
    send(n, dict(host="a", service="s", metric_sint64=2))
    assert [e["metric"] for e in n.wait_seen(2) if e["from"] == "counter"] == [2]
    assert n.stop() == 0
    (tmp_path / "seen.jsonl").unlink()
    n = start_node(tmp_path, MODULE_V2)
    try:
        send(n, dict(host="a", service="s", metric_sint64=3))
        seen = n.wait_seen(2)
        # The counter's code did not change: its sum carries on from 2.
        assert [e["metric"] for e in seen if e["from"] == "counter"] == [5]
        log = n.log()
        assert re.search(r"restored the state of \d+ stream\(s\), dropped 2 that no longer "
                         r"match the module", log), log
        # Each dropped stream is named with the reason.
        assert re.search(r"dropping saved state of throttled_stream throttle: parameters "
                         r"changed from .*'n': 5.* to .*'n': 7", log), log
        assert re.search(r"dropping saved state of rates_stream rate: the module has no root "
                         r"stream of that name any more", log), log
    finally:
        n.stop()


def test_periodic_checkpoints_carry_stream_state_over_a_kill_dash_nine(tmp_path):
    # No clean shutdown, so only a periodic checkpoint can have saved the state. The wait is a
    # margin of 15 intervals, not a measurement: without periodic checkpoints the test fails
    # however long it waits.
    args = ["--checkpoint-interval", "0.2", "--tick-interval", "0.1"]
    n = start_node(tmp_path, CHANGES, args)
    send(n, dict(host="a", service="s", state="ok"))
    send(n, dict(host="a", service="s", state="warning"))
    assert [e["changed"] for e in n.wait_seen(2)] == ["ok", "warning"]
    time.sleep(3)
    n.proc.send_signal(signal.SIGKILL)
    n.proc.wait()
    n = start_node(tmp_path, CHANGES, args)
    try:
        send(n, dict(host="a", service="s", state="warning"))  # same state: no change
        send(n, dict(host="a", service="s", state="critical"))
        assert [e["changed"] for e in n.wait_seen(3)] == ["ok", "warning", "critical"]
    finally:
        n.stop()
