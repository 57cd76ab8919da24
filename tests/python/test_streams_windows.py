"""Windows (event count and event time) and interval streams on the controlled clock, including edge cases."""

import pytest

from dmon import (apdex, batch, coalesce, fill_in, fill_in_last, fixed_event_window,
                  fixed_offset_time_window, fixed_time_window, fold_interval,
                  fold_interval_metric, interpolate_constant, moving_event_window,
                  moving_time_window, percentiles, rate, rollup, throttle, window)
from dmon.testing import Harness, run, run_intervals


def t(*ts):
    return [{"time": x} for x in ts]


def test_moving_event_window():
    assert run(lambda out: moving_event_window(0, out), []) == []
    assert run(lambda out: moving_event_window(0, out), [1, 2]) == [[], []]
    assert run(lambda out: moving_event_window(2, out), [1, 2, 3]) == [[1], [1, 2], [2, 3]]
    assert window is moving_event_window


def test_fixed_event_window():
    assert run(lambda out: fixed_event_window(0, out), [1, 2]) == []
    assert run(lambda out: fixed_event_window(2, out), [1]) == []
    assert run(lambda out: fixed_event_window(2, out), [1, 2]) == [[1, 2]]
    assert run(lambda out: fixed_event_window(2, out), [1, 2, 3, 4, 5]) == [[1, 2], [3, 4]]


def test_moving_time_window():
    assert run(lambda out: moving_time_window(0, out), t(1, 2)) == []
    assert run(lambda out: moving_time_window(2, out), t(1)) == [t(1)]
    assert run(lambda out: moving_time_window(2, out), t(1, 2, 3, 4)) == [t(1), t(1, 2), t(2, 3), t(3, 4)]


def test_moving_time_window_drops_late_events():
    out = run(lambda out: moving_time_window(2, out), t(5, 1, 2, 6, 3, 8, 4, 8, 5, 9))
    assert out == [t(5), t(5, 6), t(8), t(8, 8), t(8, 8, 9)]


def test_moving_time_window_keeps_events_without_time():
    assert run(lambda out: moving_time_window(2, out), [{}, {"time": 5}, {"time": 8}]) == \
        [[{}], [{}, {"time": 5}], [{}, {"time": 8}]]


def test_fixed_time_window():
    with pytest.raises(ValueError):
        fixed_time_window(0)
    assert run(lambda out: fixed_time_window(2, out), t(1)) == []
    assert run(lambda out: fixed_time_window(2, out), t(1, 2, 3, 4, 5)) == [t(1, 2), t(3, 4)]


def test_fixed_time_window_gap_sends_empty_windows():
    assert run(lambda out: fixed_time_window(2, out), t(1, 7)) == [t(1), [], []]


def test_fixed_time_window_out_of_order():
    out = run(lambda out: fixed_time_window(2, out), t(5, 1, 2, 6, 3, 8, 4, 8, 5, 9, 11))
    assert out == [t(5, 6), t(8, 8), t(9)]


def test_fixed_time_window_edge_event_opens_the_next_window():
    # [1, 3) then [3, 5): an event exactly at 3 belongs to the second window.
    assert run(lambda out: fixed_time_window(2, out), t(1, 3, 5)) == [t(1), t(3)]


def test_fixed_offset_time_window():
    with pytest.raises(ValueError):
        fixed_offset_time_window(0)
    assert run(lambda out: fixed_offset_time_window(2, out), t(1)) == []
    assert run(lambda out: fixed_offset_time_window(2, out), t(1, 2, 3, 4, 5, 6)) == [t(1), t(2, 3), t(4, 5)]
    assert run(lambda out: fixed_offset_time_window(2, out), t(1, 7)) == [t(1), [], []]
    out = run(lambda out: fixed_offset_time_window(2, out), t(5, 1, 2, 6, 3, 8, 4, 8, 5, 9, 11))
    assert out == [t(5), t(6), t(8, 8, 9)]


def test_rate_without_input_decays_ttl_and_stops_on_expired():
    out = run_intervals(lambda out: rate(1, out),
                        [{"metric": 1, "service": "foo"}, 0.5, {"metric": 1, "service": "bar"}, 0.5,
                         {"metric": 1, "service": "baz", "ttl": 3}, 3, {"state": "expired"}, 10])
    assert out == [{"metric": 2.0, "service": "bar", "time": 1.0},
                   {"metric": 1.0, "service": "baz", "ttl": 3, "time": 2.0},
                   {"metric": 0.0, "service": "baz", "ttl": 2, "time": 3.0},
                   {"metric": 0.0, "service": "baz", "ttl": 1, "time": 4.0}]


def test_rate_stops_when_the_last_event_expires():
    out = run_intervals(lambda out: rate(1, out), [{"time": 0, "metric": 1, "ttl": 3}, 5])
    assert out == [{"time": 1.0, "metric": 1.0, "ttl": 3}, {"time": 2.0, "metric": 0.0, "ttl": 2},
                   {"time": 3.0, "metric": 0.0, "ttl": 1}]


def test_rate_even_flow():
    h = Harness()
    out = []
    r = h.build(lambda: rate(1, out.append))
    for i in range(50):
        h.advance_to(round(0.1 * (i + 1), 6))
        r.send({"metric": 1, "time": h.now})
    h.advance_to(5.5)
    total = sum(e["metric"] for e in out)
    assert abs(total - 50) < 1e-9
    assert all(abs(e["metric"] - 10) < 1e-9 for e in out[1:-1])


def test_rate_rejects_a_non_positive_interval():
    with pytest.raises(ValueError):
        rate(0)


def test_fold_interval():
    evs = [{"metric": 2}, 0.1, {"metric": 4}, 0.2, {"metric": 2}, 0.3, {"metric": 4}, 1.0,
           {"metric": 100}, 0.1, {"metric": 100}, 1.0]
    assert run_intervals(lambda out: fold_interval(1, "metric", sum, out), evs) == [{"metric": 12}, {"metric": 200}]
    assert run_intervals(lambda out: fold_interval_metric(1, sum, out), evs) == [{"metric": 12}, {"metric": 200}]


def test_fold_interval_empty_interval_and_folder_that_rejects_it():
    assert run_intervals(lambda out: fold_interval_metric(1, sum, out), [{"metric": 2}, 2.5]) == \
        [{"metric": 2}, {"metric": 0}]
    assert run_intervals(lambda out: fold_interval_metric(1, max, out), [{"metric": 2}, 2.5]) == [{"metric": 2}]


def test_percentiles():
    evs = []
    for m in (5, 1, 4, 2, 3):
        evs += [{"service": "lat", "metric": m}, 0]
    evs[-1] = 1
    out = run_intervals(lambda out: percentiles(1, [0, 0.5, 1], out), evs)
    assert [(e["service"], e["metric"]) for e in out] == [("lat 0", 1), ("lat 0.5", 3), ("lat 1", 5)]
    out = run_intervals(lambda out: percentiles(1, {0.99: " p99"}, out), evs)
    assert [(e["service"], e["metric"]) for e in out] == [("lat p99", 5)]


def test_fill_in():
    assert run_intervals(lambda out: fill_in(0.01, {"metric": 0}, out), []) == []
    quick = [{"metric": 1}, None, {"metric": 2}, None, {"metric": 3}]
    assert [e["metric"] for e in run_intervals(lambda out: fill_in(0.01, {"metric": 0}, out), quick)] == [1, 2, 3]
    gap = [{"metric": 1}, 0.06, {"metric": 2}, None, {"metric": 3}, 0.08,
           {"metric": 4, "state": "expired"}, 0.06, {"metric": 5}]
    assert [e["metric"] for e in run_intervals(lambda out: fill_in(0.05, {"metric": 0}, out), gap)] == \
        [1, 0, 2, 3, 0, 4, 5]


def test_fill_in_last():
    gap = [{"host": "a", "metric": 1}, 0.06, {"host": "b", "metric": 2}, None, {"host": "c", "metric": 3}, 0.08,
           {"host": "d", "metric": 4, "state": "expired"}, 0.06, {"host": "e", "metric": 5}]
    out = run_intervals(lambda out: fill_in_last(0.05, {"metric": 0}, out), gap)
    assert [e["metric"] for e in out] == [1, 0, 2, 3, 0, 4, 5]
    assert [e["host"] for e in out] == ["a", "a", "b", "c", "c", "d", "e"]


def test_interpolate_constant():
    ic = lambda i: (lambda out: interpolate_constant(i, out))
    m = lambda out: [e["metric"] for e in out]
    assert run_intervals(ic(0.01), []) == []
    assert m(run_intervals(ic(0.1), [{"metric": 1}, 0.05])) == [1]
    assert m(run_intervals(ic(0.1), [{"metric": 1}, 0.05, {"metric": 2}, None, {"metric": 3}])) == [1]
    assert m(run_intervals(ic(0.1), [{"metric": 1}, 0.22, {"metric": 2}, 0.22, {"metric": 3}, 0.22,
                                     {"metric": 4}])) == [1, 1, 1, 2, 2, 3, 3]
    assert m(run_intervals(ic(0.1), [{"metric": 1}, 0.22, {"metric": 2}, 0.22, {"metric": 3}, 0.22,
                                     {"metric": 4, "state": "expired"}])) == [1, 1, 1, 2, 2, 3, 3, 4]
    assert m(run_intervals(ic(0.05), [{"metric": 1, "state": "expired"}, 0.12, {"metric": 2}, 0.12,
                                      {"metric": 3, "state": "expired"}, 0.12])) == [1, 2, 2, 2, 3]


def test_throttle():
    s = lambda x: {"state": x}
    out = run_intervals(lambda out: throttle(3, 2, out),
                        [s("1"), 0, s("2"), 0, s("3"), 1, s("4"), 1, s("5"), 1, s("expired"), 0,
                         s("expired"), 0, s("expired"), 2, s("expired"), 100])
    assert [e["state"] for e in out] == ["1", "2", "3", "5", "expired", "expired", "expired"]


def test_rollup():
    assert run_intervals(lambda out: rollup(1, 2, out), ["a", 0, "b", 0, "c", 2, "d", 0, "e", 0, "f", 2]) == \
        [["a"], ["b", "c"], ["d", "e", "f"]]
    assert run_intervals(lambda out: rollup(2, 1, out), [1, 0, 2, 0, 3, 1, 4, 0, 5, 0, 6, 0, 7, 1, "foo", 10]) == \
        [[1], [2], [3], [4], [5, 6, 7], ["foo"]]
    e = {"state": "expired"}
    assert run_intervals(lambda out: rollup(2, 3, out), [1, 0, e, 0, "a", 1, "b", 1, "c", 1]) == \
        [[1], [e], ["a", "b", "c"]]
    assert run_intervals(lambda out: rollup(2, 2, out), [e, 0, e, 0, e, 1, e, 1]) == [[e], [e], [e, e]]


def test_batch():
    assert run_intervals(lambda out: batch(2, 3, out), []) == []
    assert run_intervals(lambda out: batch(2, 3, out), ["a", 3, "b", 1, "c", 2, "d", 3]) == [["a"], ["b", "c"], ["d"]]
    assert run_intervals(lambda out: batch(2, 3, out), ["a", 1, "b", 1, "c", 1, "d", 1, "e", 1, "f", 1]) == \
        [["a", "b"], ["c"], ["d", "e"], ["f"]]


def test_windows_align_on_the_stream_creation_time():
    # part-time-simple: windows of dt anchored where the stream was built.
    h = Harness(start=1)
    effects = []
    s = h.build(lambda: batch(1000, 5, effects.append))
    for at, x in ((1, "t1"), (2, "t2"), (4, "t4"), (5, "t5"), (6, "t6"), (8, "t8"), (9, "t9"),
                  (99, "t99"), (100, "t100"), (101, "t101"), (102, "t102")):
        h.advance_to(at)
        s.send(x)
    h.advance_to(200)
    assert effects == [["t1", "t2", "t4", "t5"], ["t6", "t8", "t9"], ["t99", "t100"], ["t101", "t102"]]


def test_coalesce():
    h = Harness()
    out = []
    s = h.build(lambda: coalesce(lambda es: out.append(list(es))))
    a1 = {"service": "a", "state": "one", "time": 0}
    b1 = {"service": "b", "state": "one", "time": 0}
    a2 = {"service": "a", "state": "two", "time": 3, "ttl": 2}
    c1 = {"service": "c", "state": "one", "time": 0}
    b2 = {"service": "b", "state": "two", "time": 0}
    key = lambda es: sorted(es, key=lambda e: (e["service"], e["state"]))
    s.send(a1)
    h.advance_to(1.1)
    assert key(out[-1]) == [a1]
    s.send(b1)
    h.advance_to(2.1)
    assert key(out[-1]) == [a1, b1]
    s.send(a2)
    h.advance_to(3.1)
    assert key(out[-1]) == [a2, b1]
    s.send(c1)
    h.advance_to(6.1)   # a2 expired at 5: sent once more at the 6 s flush, then dropped
    assert key(out[-1]) == [a2, b1, c1]
    s.send(b2)
    h.advance_to(7.1)
    assert key(out[-1]) == [b2, c1]


def test_apdex():
    import random
    evs = [{"state": "ok"}] * 5 + [{"state": "warning"}] * 7 + [{"state": "expired"}] * 3 + [{"state": "fail"}]
    random.Random(4).shuffle(evs)
    seq = []
    for e in evs:
        seq += [e, 0]
    seq += [{"state": "final"}, 3]
    out = run_intervals(lambda out: apdex(1, 'state = "ok"', {"state": "warning"}, out), seq)
    assert out == [{"state": "final", "metric": (5 + 7 / 2) / (5 + 7 + 2)}]
