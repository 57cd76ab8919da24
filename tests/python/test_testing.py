"""dmon.testing: run, run_intervals, and the Harness for whole stream modules (inject, tap, captured outputs)."""

import textwrap

from dmon import rate, where
from dmon.testing import Harness, run, run_intervals, tap


def test_run_advances_the_clock_to_event_times_before_each_event():
    out = run(lambda out: rate(1, out), [{"metric": 1, "time": 0}, {"metric": 1, "time": 0.5},
                                         {"metric": 5, "time": 1.5}])
    assert out == [{"metric": 2.0, "time": 1.0}]


def test_run_intervals_fires_due_timers_and_none_does_not_move_the_clock():
    out = run_intervals(lambda out: rate(1, out), [{"metric": 1}, None, {"metric": 1}, 2])
    assert [e["metric"] for e in out] == [2.0, 0.0]


def test_each_run_starts_a_fresh_clock_at_zero():
    assert run(lambda out: rate(1, out), [{"metric": 1, "time": 3}]) == []
    assert run_intervals(lambda out: rate(1, out), [{"metric": 1}, 1])[0]["time"] == 1.0


def test_harness_loads_a_module_injects_and_captures_outputs(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "ops_streams.py").write_text(textwrap.dedent("""
        from dmon import by, changed, email, index, rate, where, with_
        from dmon.testing import tap
        stream = index()
        alert_stream = where('state = "critical"', tap("alerts", email("ops@example.com")))
        rate_stream = by("host", rate(10, with_("service", "req rate", index())))
    """))
    h = Harness(start=0)
    h.load("ops_streams")
    h.inject([{"host": "a", "service": "req", "metric": 5, "time": 1},
              {"host": "a", "service": "db", "state": "critical", "time": 2},
              {"host": "b", "service": "req", "metric": 20, "time": 3}])
    assert h.taps["alerts"] == [{"host": "a", "service": "db", "state": "critical", "time": 2}]
    assert h.captured == [("email", {"host": "a", "service": "db", "state": "critical", "time": 2})]
    h.advance_to(20)
    assert h.lookup("a", "req rate")["metric"] == 0.5
    assert h.lookup("b", "req rate")["metric"] == 2.0


def test_tap_outside_a_harness_just_passes_events():
    out = []
    s = tap("x", out.append)
    s.send({"host": "a"})
    assert out == [{"host": "a"}]
