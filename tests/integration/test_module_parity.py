"""A stream module runs inside dmond the way it runs under dmon.testing (issue 4): the same
module, fed the same events once in-process through dmon.testing.Harness and once through a
real dmond over TCP, records the same events and indexes the same ones. Also the shell's
connected mode (python3 -m dmon.shell --connect) against the real node.

Streams are chosen so the comparison does not depend on the wall clock: windows and
changes use event time; rate's per-tick split does depend on when ticks fall, so for it
the test compares what is invariant, the sum over all ticks (sum of metrics / interval)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from riemann_wire import Connection, make_event, msg_with

ROOT = Path(__file__).resolve().parents[2]

MODULE = """
import json, os
from dmon import by, changed_state, fixed_time_window, folds, index, rate, sdo, smap, where

_out = open(os.environ["DMON_TEST_OUT"], "a", buffering=1)


class _Recorder:
    def __init__(self, tag):
        self.tag = tag

    def send(self, x):
        _out.write(json.dumps([self.tag, x], sort_keys=True) + "\\n")


parity_stream = sdo(
    where('service = "cpu" and metric != nil',
          by("host", fixed_time_window(10, smap(folds.mean, _Recorder("cpu_mean_by_host")))),
          changed_state(_Recorder("cpu_state_changes"), init="ok"),
          where("metric > 0.8", index())),
    where('service = "req"', rate(0.2, _Recorder("req_rate"))),
)

seen_stream = _Recorder("seen")
"""

RATE_INTERVAL = 0.2
KEEP = ("host", "service", "state", "metric", "time", "ttl", "tags", "attributes")


def make_events(t0: float) -> list[dict]:
    """cpu for three hosts over 45 s of event time with state changes, plus req counts;
    times are floats and ttls set, as dmond hands them to streams."""
    events = []
    states = ["ok", "ok", "warning", "critical", "critical", "ok"]
    for i in range(45):
        for h, host in enumerate(("web-1", "web-2", "db-1")):
            m = round(0.1 + ((i * 7 + h * 13) % 10) / 10.5, 6)
            events.append({"host": host, "service": "cpu", "metric": m,
                           "state": states[(i // 4 + h) % len(states)],
                           "time": t0 + i + h * 0.25, "ttl": 300.0,
                           "tags": ["parity"], "attributes": {"dc": f"dc{h}"}})
        events.append({"host": "web-1", "service": "req", "metric": (i % 5) + 1,
                       "time": t0 + i + 0.5, "ttl": 300.0})
    events.append({"host": "web-3", "service": "cpu", "time": t0 + 50, "ttl": 300.0})  # no metric
    return events


def to_pb(e: dict):
    fields = dict(e)
    t = fields.pop("time")
    fields["time_micros"] = int(round(t * 1_000_000))
    m = fields.pop("metric", None)
    if isinstance(m, int):
        fields["metric_sint64"] = m
    elif m is not None:
        fields["metric_d"] = m
    return make_event(**fields)


def records(path: Path) -> dict[str, list]:
    out: dict[str, list] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            tag, x = json.loads(line)
            out.setdefault(tag, []).append(x)
    return out


def rate_total(recs: dict) -> float:
    return sum(e["metric"] for e in recs.get("req_rate", ())) * RATE_INTERVAL


def run_in_process(workdir: Path, events: list[dict]) -> tuple[dict, list[dict]]:
    from dmon.testing import Harness
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "parity_streams.py").write_text(textwrap.dedent(MODULE))
    out = workdir / "seen.jsonl"
    old = os.environ.get("DMON_TEST_OUT")
    os.environ["DMON_TEST_OUT"] = str(out)
    sys.path.insert(0, str(workdir))
    try:
        h = Harness(start=events[0]["time"] - 1)
        h.load("parity_streams")
        h.inject([dict(e) for e in events])
        h.advance(2 * RATE_INTERVAL)  # the rate's last tick
        return records(out), h.rt.search("true")
    finally:
        sys.path.remove(str(workdir))
        if old is None:
            del os.environ["DMON_TEST_OUT"]
        else:
            os.environ["DMON_TEST_OUT"] = old


def comparable(e: dict) -> dict:
    return {k: e[k] for k in KEEP if k in e and not (k == "ttl" and e[k] == 60.0)}


def by_key(es: list[dict]) -> list[dict]:
    return sorted((comparable(e) for e in es), key=lambda e: (e.get("host"), e.get("service")))


def test_module_runs_the_same_in_dmond_and_under_testing(node_factory, tmp_path):
    t0 = float(int(time.time()))
    events = make_events(t0)
    expected, expected_index = run_in_process(tmp_path / "inproc", events)
    # The module did something worth comparing.
    assert len(expected["seen"]) == len(events)
    assert len(expected["cpu_mean_by_host"]) == 12  # 3 hosts x 4 closed 10 s windows
    assert len(expected["cpu_state_changes"]) >= 9
    assert expected_index and all(e["metric"] > 0.8 for e in expected_index)
    total = sum(e["metric"] for e in events if e["service"] == "req")
    assert rate_total(expected) == pytest.approx(total)

    node = node_factory(MODULE, args=["--tick-interval", "0.05"], module_name="parity_streams")
    with Connection(node.tcp) as c:
        for i in range(0, len(events), 20):  # several messages, in order, on one connection
            reply = c.request(msg_with([to_pb(e) for e in events[i:i + 20]]))
            assert reply is not None and reply.ok, reply
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        got = records(node.out_path)
        if len(got.get("seen", ())) >= len(events) and \
                rate_total(got) == pytest.approx(total):
            break
        time.sleep(0.05)
    got = records(node.out_path)
    assert "Traceback" not in node.log()

    # What dmond handed the module is exactly what the harness was fed.
    assert got["seen"] == json.loads(json.dumps(expected["seen"]))
    assert got["cpu_mean_by_host"] == expected["cpu_mean_by_host"]
    assert got["cpu_state_changes"] == expected["cpu_state_changes"]
    assert rate_total(got) == pytest.approx(total)
    assert {(e["host"], e["service"]) for e in got["req_rate"]} == {("web-1", "req")}

    with Connection(node.tcp) as c:
        reply = c.request(msg_with(query="true"))
    assert reply is not None and reply.ok
    from dmon.wire import decode_msg
    indexed = decode_msg(reply.SerializeToString())["events"]
    assert by_key(indexed) == by_key(expected_index)


def test_connected_shell_against_dmond(node_factory):
    node = node_factory(MODULE, module_name="parity_streams")
    t = float(int(time.time()))
    script = f"""
        send(host="shell-1", service="cpu", metric=0.95, state="critical", time={t})
        send([{{"host": "shell-2", "service": "cpu", "metric": 0.99, "time": {t}}}, {{"host": "shell-3", "service": "cpu", "metric": 0.1}}])
        sorted((e["host"], e["metric"], e["time"]) for e in query('host =~ "shell-%"'))
        query("service = = 1")
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT / "pystreams"))
    r = subprocess.run(["/usr/bin/python3", "-m", "dmon.shell", "--connect", f"127.0.0.1:{node.tcp}", "-q"],
                       input=textwrap.dedent(script), capture_output=True, text=True, env=env,
                       timeout=60)
    lines = r.stdout.splitlines()
    assert r.returncode == 0, r.stderr
    assert lines[:2] == ["{'ok': True}", "{'ok': True}"]
    # Only metrics over 0.8 reach index() in the module.
    assert lines[2] == f"[('shell-1', 0.95, {t}), ('shell-2', 0.99, {t})]"
    assert "parse error" in r.stderr  # a bad query shows the node's message
    seen = [x for tag, x in (json.loads(line) for line in node.out_path.read_text().splitlines())
            if tag == "seen"]
    assert [e["host"] for e in seen] == ["shell-1", "shell-2", "shell-3"]
    assert seen[2]["time"] == pytest.approx(time.time(), abs=30)  # arrival time filled in


def test_forward_to_dmond(node_factory):
    """forward() from plain Python delivers to a real node, exactly, in order."""
    from dmon import forward
    from dmon.runtime import Runtime, activate
    node = node_factory(MODULE, module_name="parity_streams")
    activate(Runtime())
    s = forward("127.0.0.1", node.tcp, batch=7, interval=0.05)
    t = float(int(time.time()))
    sent = [{"host": "fwd", "service": "cpu", "metric": m, "time": t + i, "ttl": 120.0,
             "tags": ["f"], "attributes": {"k": "v"}}
            for i, m in enumerate([1, 0.5, -3, 2 ** 40, 0.9, 1e-9] * 5)]
    for e in sent:
        s.send(e)
    assert s.worker.join(15)
    assert s.counters()["sent"] == len(sent) and s.counters()["failed"] == 0
    node.wait_seen(len(sent))  # one recorded line per event
    seen = [x for tag, x in node.seen() if tag == "seen"]
    assert seen == [json.loads(json.dumps(e, sort_keys=True)) for e in sent]
