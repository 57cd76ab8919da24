"""state()/restore(): stream state as plain JSON data, so a restart or reload loses nothing."""

import json

from dmon import (batch, by, changed, coalesce, counter, fixed_time_window, moving_event_window,
                  rate, stable, throttle, where)
from dmon.testing import Harness


def roundtrip(make, before, after, advance=0):
    """Feed `before` to one instance, move its state (through JSON) to a fresh one, feed
    `after` to it; returns what the fresh instance sent."""
    h1 = Harness()
    s1 = h1.build(lambda: make([].append))
    for e in before:
        s1.send(e)
    data = json.loads(json.dumps(s1.state()))
    h2 = Harness()
    out = []
    s2 = h2.build(lambda: make(out.append))
    s2.restore(data)
    for e in after:
        s2.send(e)
    if advance:
        h2.advance(advance)
    return out


def test_stateless_graphs_have_no_state():
    h = Harness()
    assert h.build(lambda: where("true", [].append)).state() is None


def test_counter_and_changed_continue_after_restore():
    assert [e["metric"] for e in roundtrip(lambda o: counter(o), [{"metric": 5}], [{"metric": 1}])] == [6]
    assert roundtrip(lambda o: changed("state", o), [{"state": "ok"}], [{"state": "ok"}, {"state": "bad"}]) == \
        [{"state": "bad"}]


def test_by_forks_are_restored_with_their_state():
    out = roundtrip(lambda o: by(["host", "service"], counter(o)),
                    [{"host": "a", "service": "x", "metric": 1}, {"host": "b", "service": "x", "metric": 10}],
                    [{"host": "a", "service": "x", "metric": 1}, {"host": "b", "service": "x", "metric": 1}])
    assert [e["metric"] for e in out] == [2, 11]


def test_rate_restores_its_sum_and_restarts_its_timer():
    out = roundtrip(lambda o: rate(1, o), [{"metric": 3}, {"metric": 4}], [], advance=1)
    assert [e["metric"] for e in out] == [7.0]


def test_windows_and_batches_restore():
    assert roundtrip(lambda o: moving_event_window(3, o), [1, 2], [3]) == [[1, 2, 3]]
    assert roundtrip(lambda o: fixed_time_window(2, o), [{"time": 1}], [{"time": 4}]) == [[{"time": 1}]]
    assert roundtrip(lambda o: batch(3, 10, o), ["a", "b"], ["c"]) == [["a", "b", "c"]]
    assert roundtrip(lambda o: throttle(2, 10, o), [{}, {}], [{}]) == []


def test_coalesce_and_stable_restore():
    out = roundtrip(lambda o: coalesce(1, o), [{"host": "a"}], [{"host": "b"}], advance=1)
    assert sorted(e["host"] for e in out[-1]) == ["a", "b"]
    assert roundtrip(lambda o: stable(3, "x", o), [{"x": 1, "time": 0}], [{"x": 1, "time": 3}]) == \
        [{"x": 1, "time": 0}, {"x": 1, "time": 3}]
