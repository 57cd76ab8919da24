"""Events from the server's reaper, {host, service, state: "expired", time: now}, go through
the streams as Riemann's expired events do."""

import logging
from pathlib import Path

from dmon import append, changed_state, expired, index, not_expired, rate, sdo, where
from dmon.runtime import Runtime
from dmon.testing import Harness, run

EXAMPLES = str(Path(__file__).resolve().parents[2] / "pystreams" / "examples")


def reaped(host, service, t):
    """Exactly what dmond's reaper reinjects (keep-keys host and service)."""
    return {"host": host, "service": service, "state": "expired", "time": t}


def test_expired_passes_reaped_events_though_their_time_is_now_and_not_expired_drops_them():
    h = Harness(start=1000)
    got, kept = [], []
    s = h.build(lambda: sdo(expired(got.append), not_expired(kept.append)))
    fresh = {"host": "a", "service": "cpu", "state": "ok", "time": 1000}
    s.send(fresh)
    s.send(reaped("a", "cpu", 1000))
    assert got == [reaped("a", "cpu", 1000)] and kept == [fresh]
    assert run(lambda out: where('state = "expired"', out), [reaped("a", "cpu", 5)]) == [reaped("a", "cpu", 5)]


def test_changed_state_fires_once_on_expiry_and_again_on_recovery():
    evs = [{"host": "a", "service": "cpu", "state": "ok", "time": 1},
           {"host": "b", "service": "cpu", "state": "ok", "time": 1},
           reaped("a", "cpu", 70),
           reaped("a", "cpu", 75),     # reaped twice (two shards, a retry): no second alert
           {"host": "b", "service": "cpu", "state": "ok", "time": 76},
           {"host": "a", "service": "cpu", "state": "ok", "time": 80}]
    out = run(lambda out: changed_state(out, init="ok"), evs)
    assert out == [reaped("a", "cpu", 70), evs[-1]]


def test_rate_stops_ticking_on_a_reaped_event():
    h = Harness()
    out = []
    s = h.build(lambda: rate(1, out.append))
    s.send({"host": "a", "service": "req", "metric": 2, "time": 0})
    h.advance(1)
    s.send(reaped("a", "req", 1))
    assert h.rt.pending_timers() == []
    h.advance(5)
    assert [e["metric"] for e in out] == [2.0]


def test_example_module_on_a_reaped_event_deletes_the_key_and_logs_once(caplog, monkeypatch):
    monkeypatch.syspath_prepend(EXAMPLES)
    h = Harness(start=100)
    h.load("streams")
    h.inject([{"host": "web-1", "service": "cpu", "state": "warning", "metric": 0.9, "time": 100}])
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="dmon.events"):
        h.inject([reaped("web-1", "cpu", 200)])   # as dmond's reaper sends it into every root
    assert h.lookup("web-1", "cpu") is None
    logged = [r.getMessage() for r in caplog.records if r.name == "dmon.events"]
    assert len(logged) == 1 and '"state": "expired"' in logged[0] and "web-1" in logged[0]


def test_example_module_under_server_callables_hands_the_expiry_to_the_index(monkeypatch):
    """With the server's index callable, the example passes the expired event on (with the
    default ttl added), so the server's index deletes the key."""
    monkeypatch.syspath_prepend(EXAMPLES)
    written = []
    rt = Runtime(clock=lambda: 200.0, index=written.append)
    from dmon.loader import load
    load("streams", rt)
    rt.dispatch(reaped("web-1", "cpu", 200))
    assert written == [dict(reaped("web-1", "cpu", 200), ttl=60)]


def test_the_in_memory_reaper_sends_exactly_the_servers_shape():
    h = Harness(start=0)
    seen = []
    h.rt.roots = [("stream", h.build(lambda: index())),
                  ("seen_stream", h.build(lambda: append(seen)))]
    h.inject([{"host": "a", "service": "cpu", "metric": 1, "ttl": 5, "description": "x", "time": 0}])
    h.advance_to(6)
    assert h.expire() == [reaped("a", "cpu", 6)]
    assert seen[-1] == reaped("a", "cpu", 6) and h.index == []
