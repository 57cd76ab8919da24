"""Runtime: clock, timers, in-memory index, reinjection, exception reporting, workers."""

import logging
import threading

import pytest

from dmon.runtime import Runtime, activate, current
from dmon.testing import FakeClock


def test_now_uses_the_given_clock_else_wall_time():
    assert Runtime(clock=lambda: 12.5).now() == 12.5
    import time
    assert abs(Runtime().now() - time.time()) < 5


def test_activate_sets_the_current_runtime_and_a_default_exists():
    assert isinstance(current(), Runtime)
    rt = Runtime()
    assert activate(rt) is rt and current() is rt


def test_every_runs_at_each_interval_and_now_reads_the_due_time():
    clock = FakeClock(0)
    rt = Runtime(clock=clock)
    seen = []
    rt.every(1, lambda: seen.append(rt.now()))
    rt.tick(3.5)
    assert seen == [1.0, 2.0, 3.0]
    assert rt.now() == 0.0  # the override ends with the tick


def test_timers_run_in_time_order_across_timers():
    rt = Runtime(clock=lambda: 0.0)
    seen = []
    rt.every(2, lambda: seen.append(("a", rt.now())))
    rt.every(3, lambda: seen.append(("b", rt.now())))
    rt.after(2.5, lambda: seen.append(("c", rt.now())))
    rt.tick(6)
    assert seen == [("a", 2.0), ("c", 2.5), ("b", 3.0), ("a", 4.0), ("a", 6.0), ("b", 6.0)]


def test_cancelled_timer_never_runs_and_after_runs_once():
    rt = Runtime(clock=lambda: 0.0)
    seen = []
    t = rt.every(1, lambda: seen.append("every"))
    rt.after(1, lambda: seen.append("after"))
    t.cancel()
    rt.tick(10)
    assert seen == ["after"]
    assert rt.pending_timers() == []


def test_defer_postpones_the_next_run():
    clock = FakeClock(0)
    rt = Runtime(clock=clock)
    seen = []
    t = rt.every(1, lambda: seen.append(rt.now()))
    clock.set(0.5)
    t.defer(1)  # next run at 1.5, then every second from there
    rt.tick(4)
    assert seen == [1.5, 2.5, 3.5]


def test_a_timer_that_raises_is_reported_and_keeps_running():
    errors = []
    rt = Runtime(clock=lambda: 0.0, on_exception=lambda w, e, x: errors.append((w, type(x))))
    n = []

    def boom():
        n.append(1)
        raise RuntimeError("x")
    rt.every(1, boom, name="boom")
    rt.tick(2)
    assert len(n) == 2 and errors == [("timer boom", RuntimeError)] * 2
    assert rt.exceptions == 2


def test_timer_interval_must_be_positive():
    with pytest.raises(ValueError):
        Runtime().every(0, lambda: None)


def test_in_memory_index_keeps_latest_per_key_and_expired_deletes():
    rt = Runtime(clock=lambda: 7.0)
    rt.index({"host": "a", "service": "cpu", "metric": 1})
    rt.index({"host": "a", "service": "cpu", "metric": 2, "time": 3.0})
    rt.index({"host": "b", "service": "cpu", "metric": 3})
    assert rt.lookup("a", "cpu") == {"host": "a", "service": "cpu", "metric": 2, "time": 3.0}
    assert rt.lookup("b", "cpu")["time"] == 7.0  # no time: now
    rt.index({"host": "a", "service": "cpu", "state": "expired"})
    assert rt.lookup("a", "cpu") is None
    assert [e["host"] for e in rt.indexed()] == ["b"]


def test_index_normalises_unknown_keys_into_attributes():
    rt = Runtime(clock=lambda: 0.0)
    rt.index({"host": "a", "env": "prod", "build": 7})
    assert rt.lookup("a", None)["attributes"] == {"env": "prod", "build": "7"}


def test_index_callable_replaces_the_in_memory_index():
    got = []
    rt = Runtime(index=got.append)
    rt.index({"host": "a"})
    assert got == [{"host": "a"}] and rt.indexed() == []


def test_search_takes_a_query_string():
    rt = Runtime(clock=lambda: 0.0)
    for h, m in (("a", 1), ("b", 5)):
        rt.index({"host": h, "service": "cpu", "metric": m})
    assert [e["host"] for e in rt.search('service = "cpu" and metric > 2')] == ["b"]


def test_expire_reaps_with_default_ttl_and_reinjects_expired_events():
    clock = FakeClock(0)
    rt = Runtime(clock=clock)
    rt.index({"host": "a", "service": "s1", "ttl": 0.05, "time": 0})
    rt.index({"host": "a", "service": "s2", "ttl": 1, "time": 0})
    rt.index({"host": "a", "service": "s3", "time": 0})
    seen = []

    class Root:
        def send(self, e):
            seen.append(e)
    rt.roots = [("stream", Root())]
    out = rt.expire(0.11)
    assert out == [{"host": "a", "service": "s1", "state": "expired", "time": 0.11}]
    assert seen == out
    assert {e["service"] for e in rt.indexed()} == {"s2", "s3"}
    assert [e["service"] for e in rt.expire(60)] == ["s2"]  # s3: 60 - 0 is not > 60
    assert [e["service"] for e in rt.expire(60.5)] == ["s3"]


def test_reinject_routes_to_roots_after_the_current_event_not_recursively():
    rt = Runtime(clock=lambda: 0.0)
    order = []

    class Root:
        def send(self, e):
            order.append(("in", e["service"]))
            if e["service"] == "a":
                rt.reinject({"service": "b"})
            order.append(("out", e["service"]))
    rt.roots = [("stream", Root())]
    rt.reinject({"service": "a"})
    assert order == [("in", "a"), ("out", "a"), ("in", "b"), ("out", "b")]
    assert [e["service"] for e in rt.reinjected] == ["a", "b"]


def test_reinject_callable_is_used_when_given():
    got = []
    rt = Runtime(reinject=got.append)
    rt.reinject({"host": "a", "extra": 1})
    assert got == [{"host": "a", "attributes": {"extra": "1"}}]


def test_dispatch_reports_a_raising_root_and_runs_the_others():
    errors = []
    rt = Runtime(on_exception=lambda w, e, x: errors.append(w))
    seen = []

    class Bad:
        def send(self, e):
            raise KeyError("state")

    class Good:
        def send(self, e):
            seen.append(e)
    rt.roots = [("bad_stream", Bad()), ("good_stream", Good())]
    rt.dispatch({"host": "a"})
    assert errors == ["root stream bad_stream"] and seen == [{"host": "a"}]


def test_report_exception_logs_traceback_without_handler(caplog):
    rt = Runtime()
    try:
        raise ValueError("bad metric")
    except ValueError as exc:
        with caplog.at_level(logging.ERROR, logger="dmon.runtime"):
            rt.report_exception("where", {"host": "a"}, exc)
    assert rt.exceptions == 1
    assert "bad metric" in caplog.text and "Traceback" in caplog.text and "where" in caplog.text


def test_config_is_a_plain_dict():
    rt = Runtime(config={"smtp_host": "mail", "smtp_port": 2525})
    assert rt.config["smtp_port"] == 2525


def test_worker_runs_jobs_in_background_and_counts_drops():
    rt = Runtime()
    gate = threading.Event()
    w = rt.worker("slow", maxsize=1)
    assert rt.worker("slow") is w
    done = []
    assert w.submit(lambda: (gate.wait(5), done.append(1)))
    # The first job may already be running; fill the queue until a drop happens.
    results = [w.submit(lambda: done.append(2)) for _ in range(3)]
    assert False in results
    gate.set()
    assert rt.drain(5)
    c = w.counters()
    assert c["dropped"] >= 1 and c["dropped"] + c["completed"] == 4 and c["failed"] == 0


def test_worker_counts_failures_and_goes_on():
    w = Runtime().worker("flaky")
    w.submit(lambda: 1 / 0)
    ok = []
    w.submit(lambda: ok.append(1))
    assert w.join(5)
    assert w.counters()["failed"] == 1 and ok == [1]
