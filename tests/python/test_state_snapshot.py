"""dmon.state: snapshots keyed by root name and path, restored into a freshly loaded module
after a restart; what no longer matches is dropped and reported."""

import json
import textwrap

import pytest

import dmon.state
from dmon import by, changed, counter, exception_stream, rate, throttle, where
from dmon.testing import Harness

MODULE = """
    from dmon import changed_state, rate, tap, where, index
    stream = index()
    alert_stream = changed_state(tap("changes"))
    rate_stream = where('service = "requests"', rate(5, tap("rates")))
    gen_stream = (lambda: (yield))()     # a plain generator: nothing to save
"""


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name, source):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        return name
    return write


def restart(name, snap, at):
    """A new process: a fresh harness at time `at`, the module loaded, the snapshot (through
    its JSON text, as RocksDB would hold it) restored."""
    h = Harness(start=at)
    roots = h.load(name)
    report = dmon.state.restore(roots, dmon.state.loads(dmon.state.dumps(snap)))
    return h, report


def test_snapshot_is_json_keyed_by_root_and_path(module_dir):
    name = module_dir("m_snap", MODULE)
    h = Harness(start=100)
    roots = h.load(name)
    h.inject([{"host": "a", "service": "x", "state": "ok", "time": 100},
              {"host": "a", "service": "requests", "metric": 3, "time": 101}])
    snap = dmon.state.snapshot(roots)
    assert snap == json.loads(json.dumps(snap))
    assert snap["version"] == dmon.state.VERSION
    assert sorted(snap["roots"]) == ["alert_stream", "rate_stream"]
    assert list(snap["roots"]["alert_stream"]) == ["by"]
    assert list(snap["roots"]["rate_stream"]) == ["where/0:rate"]
    assert snap["roots"]["rate_stream"]["where/0:rate"]["params"] == {"interval": 5}
    assert dmon.state.snapshot(h.rt) == snap == dmon.state.snapshot(dict(roots))


def test_changed_state_restored_from_a_snapshot_does_not_refire(module_dir):
    name = module_dir("m_changed", MODULE)
    h = Harness(start=100)
    roots = h.load(name)
    h.inject([{"host": "a", "service": "x", "state": "ok", "time": 100},
              {"host": "b", "service": "x", "state": "critical", "time": 100}])
    assert [e["host"] for e in h.taps["changes"]] == ["a", "b"]
    h2, report = restart(name, dmon.state.snapshot(roots), at=200)
    assert report["dropped"] == [] and sorted(report["restored"]) == ["alert_stream by", "rate_stream where/0:rate"]
    h2.inject([{"host": "a", "service": "x", "state": "ok", "time": 200},
               {"host": "b", "service": "x", "state": "critical", "time": 200}])
    assert h2.taps.get("changes", []) == []            # same states as before the restart: silent
    h2.inject([{"host": "b", "service": "x", "state": "ok", "time": 201}])
    assert [(e["host"], e["state"]) for e in h2.taps["changes"]] == [("b", "ok")]


def test_a_restored_rate_keeps_its_window_and_ticks_on(module_dir):
    name = module_dir("m_rate", MODULE)
    h = Harness(start=100)
    roots = h.load(name)
    h.inject([{"service": "requests", "metric": m, "time": 101 + i} for i, m in enumerate((4, 6))])
    snap = dmon.state.snapshot(roots)            # taken at 102, before the tick at 105
    h2, _ = restart(name, snap, at=103)
    assert len(h2.rt.pending_timers()) == 1      # the restored rate runs without a new event
    h2.inject([{"service": "requests", "metric": 5, "time": 104}])
    h2.advance_to(108)
    assert [(e["metric"], e["time"]) for e in h2.taps["rates"]] == [(3.0, 108.0)]  # (4+6+5)/5


def test_a_changed_module_restores_what_still_matches_and_reports_the_rest(module_dir):
    old = module_dir("m_v1", """
        from dmon import counter, rate, where, changed
        a_stream = where("metric > 0", counter(), else_=changed("state"))
        b_stream = rate(5)
        gone_stream = counter()
    """)
    h = Harness()
    roots = h.load(old)
    for e in ({"metric": 2, "state": "ok"}, {"metric": 0, "state": "bad"}):
        h.inject([e])
    snap = dmon.state.snapshot(roots)
    assert sorted(snap["roots"]["a_stream"]) == ["where/0:counter", "where/else.0:changed"]
    new = module_dir("m_v2", """
        from dmon import counter, rate, where, changed
        out = []
        a_stream = where("metric > 0", counter(out.append), else_=changed("state", out.append))
        b_stream = rate(10)
    """)
    h2, report = restart(new, snap, at=0)
    assert report["restored"] == ["a_stream where/0:counter", "a_stream where/else.0:changed"]
    reasons = {(d["root"], d["path"]): d["reason"] for d in report["dropped"]}
    assert set(reasons) == {("b_stream", "rate"), ("gone_stream", "counter")}
    assert "parameters changed" in reasons[("b_stream", "rate")]
    assert "no root stream" in reasons[("gone_stream", "counter")]
    h2.inject([{"metric": 1, "state": "bad"}, {"metric": 0, "state": "bad"}])
    assert h2.rt.roots[0][1].children[0].count == 3      # 2 before the restart, 1 after
    out = h2.rt.roots[0][1].children[0].children[0].__self__
    assert [e["metric"] for e in out] == [3]             # changed("state") saw "bad" before: silent


def test_moved_streams_and_other_versions_are_dropped():
    h = Harness()
    a = h.build(lambda: by("host", counter()))
    a.send({"host": "x", "metric": 1})
    snap = dmon.state.snapshot([("stream", a)])
    b = h.build(lambda: where("true", by("host", counter())))
    report = dmon.state.restore([("stream", b)], snap)
    assert report["restored"] == [] and report["dropped"][0]["path"] == "by"
    other = dict(snap, version=99)
    assert "version 99" in dmon.state.restore([("stream", a)], other)["dropped"][0]["reason"]
    assert dmon.state.restore([("stream", a)], None) == {"restored": [], "dropped": []}


def test_state_json_cannot_hold_is_left_out_and_the_rest_saved(caplog):
    h = Harness()
    a = h.build(lambda: changed(lambda e: {e["x"]}))     # a set: JSON cannot hold it
    c = h.build(lambda: counter())
    a.send({"x": 1})
    c.send({"metric": 1})
    snap = dmon.state.snapshot([("a_stream", a), ("c_stream", c)])
    assert list(snap["roots"]) == ["c_stream"]
    assert "not JSON data" in caplog.text


def test_restore_that_raises_is_dropped_not_raised():
    h = Harness()
    a = h.build(lambda: throttle(2, 10))
    bad = {"version": 1, "roots": {"stream": {"throttle": {"params": a.params(), "state": {"nonsense": 1}}}}}
    report = dmon.state.restore([("stream", a)], bad)
    assert report["restored"] == [] and "raised" in report["dropped"][0]["reason"]


def test_exception_stream_handlers_are_part_of_the_state():
    h = Harness()
    a = h.build(lambda: exception_stream(counter(), rate(1)))
    a.branches()[1][1]._restore({"count": 4})
    snap = dmon.state.snapshot([("stream", a)])
    assert "exception_stream/handler:counter" in snap["roots"]["stream"]
    b = h.build(lambda: exception_stream(counter(), rate(1)))
    dmon.state.restore([("stream", b)], snap)
    assert b.handler.count == 4
    assert b.state() == a.state() and a.state()["x"] == {"handler": {"s": {"count": 4}, "c": []}}
