"""Stateful streams: changed, changed_state, runs, stable, counter, ewma, ddt, top, project, dual, clock_skew, predict_linear, exception_stream."""

import pytest

from dmon import (changed, changed_state, clock_skew, counter, ddt, dual, ewma, ewma_timeless,
                  exception_stream, expire, predict_linear, project, rate, runs, sdo, smap,
                  stable, top)
from dmon.runtime import Runtime, activate
from dmon.testing import Harness, run, run_intervals


def states(*xs):
    return [{"state": x} for x in xs]


def test_changed_with_init_and_pairs():
    assert run(lambda out: changed("state", out), states("ok", "bad", "bad", "ok", "ok", "ok", "evil", "bad")) == \
        states("ok", "bad", "ok", "evil", "bad")
    assert run(lambda out: changed("state", out, init="ok"), states("ok", "bad", "bad", "ok", "ok", "evil", "bad")) == \
        states("bad", "ok", "evil", "bad")
    got = run(lambda out: changed(lambda e: e["state"], out, init="ok", pairs=True),
              states("ok", "bad", "bad", "ok", "ok", "evil", "bad"))
    expect = states("ok", "bad", "ok", "evil", "bad")
    assert got == [[a, b] for a, b in zip(expect, expect[1:])]


def test_changed_reports_a_raising_child():
    errors = []
    h = Harness(on_exception=lambda w, e, x: errors.append(x))

    def boom(e):
        raise Exception("boo!")
    h.build(lambda: changed("state", boom)).send({"state": "critical"})
    assert len(errors) == 1


def test_changed_state_per_host_and_service():
    evs = [{"host": 1, "service": 1, "state": 1}, {"host": 2, "service": 1, "state": 1},
           {"host": 1, "service": 1, "state": 1}, {"host": 1, "service": 1, "state": 2},
           {"host": 2, "service": 1, "state": 2}, {"host": 2, "service": 2, "state": 1},
           {"host": 2, "service": 1, "state": 1}]
    out = run(lambda out: changed_state(out), evs)
    assert out == [evs[i] for i in (0, 1, 3, 4, 5, 6)]
    assert run(lambda out: changed_state(out, init="ok"), [{"host": 1, "state": "ok"}]) == []


def test_counter():
    assert run(lambda out: counter(out), [{}, {"state": "expired"}, {"service": "foo"}]) == \
        [{}, {"state": "expired"}, {"service": "foo"}]
    assert run(lambda out: counter(out), [{"metric": 2}, {}, {"metric": 3}]) == [{"metric": 2}, {}, {"metric": 5}]
    assert run(lambda out: counter(100, out), [{"metric": 1}, {"metric": 200, "tags": ["reset"]}, {"metric": 5}]) == \
        [{"metric": 101}, {"metric": 200, "tags": ["reset"]}, {"metric": 205}]


def test_runs():
    assert run(lambda out: runs(0, "state", out), states(2, 3, 4)) == []
    assert run(lambda out: runs(3, "state", out), states(1, 2, 2)) == []
    evs = [{"state": 1}, {"state": 1}, {"metric": "0.5", "state": 2}, {"metric": "0.6", "state": 2},
           {"state": 3}, {"state": 4, "metric": "5.0"}, {"state": 4, "metric": "5.1"},
           {"state": 4, "metric": "5.2"}]
    assert run(lambda out: runs(3, "state", out), evs) == [{"state": 4, "metric": "5.2"}]


def x(v, t):
    return {"x": v, "time": t}


def test_stable_needs_dt_seconds():
    assert run(lambda out: stable(3, "x", out), [x(1, 0), x(1, 1), x(1, 2)]) == []
    assert run(lambda out: stable(3, "x", out), [x(1, 0), x(1, 1), x(1, 3)]) == [x(1, 0), x(1, 1), x(1, 3)]


def test_stable_ignores_spikes_and_flapping():
    assert run(lambda out: stable(3, "x", out), [x(0, 0), x(0, 3), x(1, 4), x(1, 5), x(0, 6), x(0, 9)]) == \
        [x(0, 0), x(0, 3), x(0, 6), x(0, 9)]
    evs = [x(0, 0), x(0, 10), x(1, 11), x(0, 11), x(1, 12), x(5, 13), x(2, 14), x(2, 17)]
    assert run(lambda out: stable(3, "x", out), evs) == [x(0, 0), x(0, 10), x(2, 14), x(2, 17)]


def test_stable_flushes_on_the_clock_without_new_events():
    assert run_intervals(lambda out: stable(10, "x", out), [x(0, 0), 1, x(1, 1), 10, x(2, 11), 1]) == [x(1, 1)]
    assert run_intervals(lambda out: stable(10, "x", out),
                         [x(0, 0), 1, x(0, 1), 4, x(0, 5), 6, x(1, 11), 1]) == [x(0, 0), x(0, 1), x(0, 5)]


def test_ewma_timeless():
    m = lambda *ms: [{"metric": v} for v in ms]
    assert run(lambda out: ewma_timeless(0, out), m(1, 10, 20, -100, 4)) == m(0, 0, 0, 0, 0)
    assert run(lambda out: ewma_timeless(1, out), m(5, 13, 1, -10, 3)) == m(5, 13, 1, -10, 3)
    assert run(lambda out: ewma_timeless(0.5, out), m(1, 1, 1, 1, 1)) == m(0.5, 0.75, 0.875, 0.9375, 0.96875)


def test_ewma_converges_halves_per_halflife_and_weights_late_events():
    for halflife in (1, 2, 5):
        out = run(lambda out: ewma(halflife, out), [{"metric": 1, "time": n + 1} for n in range(50)])
        assert all(abs(e["metric"] - 1) < 0.01 for e in out[40:])
        out2 = run(lambda o: ewma(halflife, o), [{"metric": 1, "time": n + 1} for n in range(50)] +
                   [{"metric": 0, "time": 50 + halflife}, {"metric": 0, "time": 50 + 2 * halflife}])
        assert abs(out2[-2]["metric"] - 0.5) < 0.01 and abs(out2[-1]["metric"] - 0.25) < 0.01
    out = run_intervals(lambda out: ewma(1, out), [{"metric": 1, "time": 0}, 1, {"metric": 1, "time": 2}, 1,
                                                   {"metric": 1, "time": 1}, 1])
    assert out == [{"metric": 0.5, "time": 0}, {"metric": 0.625, "time": 2}, {"metric": 0.875, "time": 2}]


def test_ddt_between_events():
    assert run(lambda out: ddt(out), []) == []
    assert run(lambda out: ddt(out), [{}, {}, {}]) == []
    assert run(lambda out: ddt(out), [{"metric": 1, "time": 0}]) == []
    evs = [{"metric": 0, "time": 0}, {"metric": 0, "time": 1}, {"metric": 2, "time": 2}, {"metric": -4, "time": 4}]
    assert run(lambda out: ddt(out), evs) == [{"metric": 0, "time": 1}, {"metric": 2, "time": 2},
                                              {"metric": -3, "time": 4}]
    assert run(lambda out: ddt(out), [{"metric": 0, "time": 1}, {"metric": 5, "time": 1}]) == []


def test_ddt_every_n_seconds():
    assert run_intervals(lambda out: ddt(0.1, out), [{"metric": 1}, None, {"metric": 2}, None, {"metric": 3}]) == []
    assert run_intervals(lambda out: ddt(1, out), [{"time": 0, "metric": -1}, 0.99, {"time": 1, "metric": 0}, 1,
                                                   {"time": 2, "metric": -5}, 1]) == \
        [{"time": 1, "metric": 1}, {"time": 2, "metric": -5}]
    assert run_intervals(lambda out: ddt(1, out), [{"time": 0, "metric": -1}, 0.01, {"time": 0.5, "metric": 100}, 0.5,
                                                   {"time": 1, "metric": 1}, 0.5, {"time": 1.5}, 0.5,
                                                   {"time": 2, "metric": -3}, 0.5]) == \
        [{"time": 1, "metric": 2}, {"time": 2, "metric": -4}]
    assert run_intervals(lambda out: ddt(2, out), [{"time": 0, "metric": 0}, 1, {"time": 1, "metric": 1}, 2,
                                                   {"time": 3, "metric": 2}, 3]) == \
        [{"time": 2, "metric": 1}, {"time": 4, "metric": 0.5}, {"time": 6, "metric": 0}]


def ev(s, m, *tags):
    e = {"service": s, "tags": list(tags)}
    if m is not None:
        e["metric"] = m
    return e


def exp(e):
    return expire(e, 0.0)


@pytest.mark.parametrize("k,inputs,outputs", [
    (1, [ev("a", 1)], [ev("a", 1)]),
    (1, [ev("a", 1), ev("a", 2), ev("a", 1), ev("a", 3)], [ev("a", 1), ev("a", 2), ev("a", 1), ev("a", 3)]),
    (2, [ev("a", 1), ev("b", 2), ev("c", 3), ev("a", 1), ev("b", 2)],
        [ev("a", 1), ev("b", 2), ev("c", 3), exp(ev("a", 1)), ev("b", 2)]),
    (2, [ev("a", 2), ev("b", 2), ev("c", 1), ev("a", 5), ev("c", 1), ev("a", 0), ev("c", 1)],
        [ev("a", 2), ev("b", 2), exp(ev("c", 1)), ev("a", 5), exp(ev("c", 1)), ev("a", 0), ev("c", 1)]),
    (2, [ev("a", 1), ev("b", 2), ev("c", 3), ev("d", 1), ev("a", 2), ev("b", None), ev("d", 2)],
        [ev("a", 1), ev("b", 2), ev("c", 3), exp(ev("d", 1)), exp(ev("a", 2)), exp(ev("b", None)), ev("d", 2)]),
    (1, [ev("a", None), ev("b", 1), ev("a", None)], [exp(ev("a", None)), ev("b", 1), exp(ev("a", None))]),
    (1, [ev("b", 2), ev("b", None), ev("a", 1)], [ev("b", 2), exp(ev("b", None)), ev("a", 1)]),
    (2, [exp(ev("a", 2))], [exp(ev("a", 2))]),
    (1, [ev("a", 2), exp(ev("a", 1)), ev("b", 1)], [ev("a", 2), exp(ev("a", 1)), ev("b", 1)]),
    (2, [ev("a", 1), ev("b", 2), ev("c", 3), ev("d", 4), ev("a", 2), ev("b", 3), ev("c", 4), ev("d", 5)],
        [ev("a", 1), ev("b", 2), ev("c", 3), ev("d", 4), exp(ev("a", 2)), exp(ev("b", 3)), ev("c", 4), ev("d", 5)]),
])
def test_top(k, inputs, outputs):
    assert run(lambda out: top(k, "metric", out), inputs) == outputs


def test_top_demotes_to_the_bottom_stream():
    tops, bottoms = [], []
    run(lambda out: top(1, "metric", tops.append, bottoms.append), [ev("a", 1), ev("b", 2)])
    assert tops == [ev("a", 1), exp(ev("a", 1)), ev("b", 2)]
    assert bottoms == [exp(ev("a", 1)), ev("a", 1), exp(ev("b", 2))]


def test_dual_sends_mirror_images():
    a, b = [], []
    s = dual("metric > 1", a.append, b.append)
    s.send({"host": "h", "metric": 2})
    s.send({"host": "h", "metric": 0})
    s.send({"host": "h", "state": "expired"})
    assert [e.get("metric", e.get("state")) for e in a] == [2, "expired", "expired"]
    assert [e.get("metric", e.get("state")) for e in b] == ["expired", 0, "expired"]


def test_project_basics_and_expiry():
    assert run(lambda out: project(['service = "foo"', 'service = "bar"'], out), []) == []
    assert run(lambda out: project([], out), [1, 2, 3]) == []
    evs = [{"service": "cat"}, {"service": "foo", "a": 1}, {"service": "foo", "a": 2}, {"service": "meow"},
           {"service": "bar", "b": 3}, {"service": "foo", "b": 4}]
    assert run(lambda out: project(['service = "foo"', {"service": "bar"}], out), evs) == [
        [evs[1], None], [evs[2], None], [evs[2], evs[4]], [evs[5], evs[4]]]
    out = run(lambda out: project(['service = "foo"', 'service = "bar"'], out),
              [{"service": "foo", "state": "expired"}, {"service": "foo", "state": "expired"}, {"service": "cat"}])
    assert out == [[{"service": "foo", "time": 0.0, "state": "expired"}, None]] * 2
    out = run(lambda out: project(['service = "foo"', 'service = "bar"'], out),
              [{"service": "foo", "state": "ok"}, {"service": "bar", "state": "ok"},
               {"service": "bar", "state": "expired"}, {"service": "foo", "state": "expired"},
               {"service": "bar", "state": "expired"}])
    ex = lambda s: {"service": s, "time": 0.0, "state": "expired"}
    assert out == [[{"service": "foo", "state": "ok"}, None],
                   [{"service": "foo", "state": "ok"}, {"service": "bar", "state": "ok"}],
                   [{"service": "foo", "state": "ok"}, ex("bar")],
                   [ex("foo"), None],
                   [None, ex("bar")]]


def test_project_expires_its_own_events_when_their_ttl_passes():
    out = run_intervals(lambda out: project(['service = "foo"', 'service = "bar"'], out),
                        [{"service": "foo", "state": "ok", "time": 0, "ttl": 1}, 2,
                         {"service": "bar", "state": "ok"}, 1, {"service": "bar", "state": "ok2"}])
    assert out == [[{"service": "foo", "state": "ok", "time": 0, "ttl": 1}, None],
                   [{"service": "foo", "time": 2.0, "state": "expired"}, {"service": "bar", "state": "ok"}],
                   [None, {"service": "bar", "state": "ok2"}]]


def test_clock_skew():
    out = run_intervals(lambda out: clock_skew(out),
                        [{"time": 1, "host": "foo"}, 1, {"time": 3, "host": "bar"}, 1,
                         {"time": 9, "host": "baz"}, 1, {"time": 1, "host": "foo"}, 1,
                         {"time": 100, "host": "foo"}])
    assert [(e["host"], e["metric"]) for e in out] == [("foo", 0), ("bar", 0), ("baz", 5), ("foo", -4), ("foo", 89)]


def pts(*ms):
    return [{"metric": m, "time": t} for m, t in ms]


def test_predict_linear():
    assert run(lambda out: predict_linear(10, 600, out), pts((1, 1))) == []
    five = pts((1, 1), (2, 2), (3, 3), (4, 4), (5, 5))
    assert run(lambda out: predict_linear(5, 60, out), five) == pts((62, 2), (63, 3), (64, 4), (65, 5))
    assert run(lambda out: predict_linear(2, 86400, out), pts((100, 0), (50, 43200))) == pts((-50, 43200))
    assert run(lambda out: predict_linear(2, 60, out), pts((100, 0), (100, 1))) == pts((100, 1))
    assert run(lambda out: predict_linear(5, 60, 60, out), five) == pts((62, 2), (63, 3), (64, 4), (65, 5))
    # refit at most every 60 s of clock: the third point reuses the first fit
    assert run(lambda out: predict_linear(2, 60, 60, out),
               pts((100, 0), (100, 1), (500, 2))) == pts((100, 1), (100, 2))
    with pytest.raises(ValueError):
        predict_linear(1, 60)


def test_exception_stream_turns_child_exceptions_into_events():
    out, errors = [], []

    def boom(e):
        out.append(e)
        raise RuntimeError("foo")
    h = Harness()
    s = h.build(lambda: exception_stream(errors.append, boom))
    s.send({"host": "x"})
    assert out == [{"host": "x"}] and len(errors) == 1
    e = errors[0]
    assert e["service"] == "dmon exception" and e["state"] == "error" and e["time"] == 0
    assert e["tags"] == ["exception", "RuntimeError"] and "RuntimeError: foo" in e["description"]


def test_exception_stream_catches_exceptions_from_timers_below():
    errors = []
    h = Harness()
    s = h.build(lambda: exception_stream(errors.append, rate(1, smap(lambda e: 1 / 0))))
    s.send({"metric": 2})
    assert errors == []
    h.advance(1)
    assert [e["state"] for e in errors] == ["error"]
    assert "ZeroDivisionError" in errors[0]["tags"]


def test_exception_stream_covers_by_forks_created_later():
    from dmon import by
    errors = []
    h = Harness()
    s = h.build(lambda: exception_stream(errors.append, by("host", smap(lambda e: e["nope"]))))
    s.send({"host": "a"})
    s.send({"host": "b"})
    assert len(errors) == 2
