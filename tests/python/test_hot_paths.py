"""The fast paths taken for speed (bench/python_streams_bench.py) keep the semantics of the
general ones: inlined emission, by's inline keys, rate's lazy ttl, specialised queries."""

from __future__ import annotations

import json

import pytest

from dmon import by, changed_state, compile_query, rate, where
from dmon.runtime import Runtime, activate
from dmon.testing import Harness, run, run_intervals


def test_where_inline_emit_reports_a_raising_child_and_goes_on(fresh_runtime):
    got = []

    def boom(e):
        raise RuntimeError("child")
    s = where("metric > 1", boom)
    assert s.send({"metric": 2}) is True
    assert fresh_runtime.exceptions == 1
    s2 = where("metric > 1", boom, got.append)  # two children: the loop, not the inline path
    s2.send({"metric": 2})
    assert got == [{"metric": 2}] and fresh_runtime.exceptions == 2


@pytest.mark.parametrize("q,e,want", [
    ('service = "cpu"', {"service": "cpu"}, True),
    ('service = "cpu"', {}, False),
    ('service != "cpu"', {}, True),
    ('service != "cpu"', {"service": "cpu"}, False),
    ('env = "prod"', {"attributes": {"env": "prod"}}, True),   # attribute: the general path
    ('"cpu" = service', {"service": "cpu"}, True),
])
def test_specialised_string_equality(q, e, want):
    assert compile_query(q)(e) is want


def test_by_inline_key_matches_the_getter():
    out = run(lambda o: by("host", changed_state(o, init="ok")),
              [{"host": "a", "service": "x", "state": "bad"},
               {"host": None, "service": "x", "state": "bad"},
               {"host": "a", "service": "x", "state": "bad"},
               {"host": "a", "service": "y", "state": "bad"}])
    assert [(e["host"], e["service"]) for e in out] == [("a", "x"), (None, "x"), ("a", "y")]


def test_by_on_a_non_event_is_reported_not_raised(fresh_runtime):
    s = by("host", rate(1))
    s.send([{"host": "a"}])  # a list has no .get
    assert fresh_runtime.exceptions == 1


def test_by_two_core_fields_keys_are_tuples_and_restore():
    h = Harness()
    s = h.build(lambda: changed_state(lambda e: None, init="ok"))
    s.send({"host": "a", "service": "b", "state": "x"})
    st = json.loads(json.dumps(s.state()))
    h2 = Harness()
    s2 = h2.build(lambda: changed_state(lambda e: None, init="ok"))
    s2.restore(st)
    assert list(s2.forks) == [("a", "b")]


def test_rate_lazy_ttl_same_as_eager():
    out = run_intervals(lambda o: rate(1, o), [{"metric": 1, "ttl": 0.1}, 0.5,
                                               {"metric": 3, "ttl": 10}, 2])
    # the ttl out equals the ttl in under flow, then decays by one interval per tick
    assert [(e["metric"], e["ttl"]) for e in out] == [(4.0, 10), (0.0, 9)]
    out = run_intervals(lambda o: rate(1, o), [{"metric": 1, "ttl": 0.1}, 1])
    assert out[0]["ttl"] == (0.1 + 1) - 1  # exactly the eager arithmetic


def test_rate_state_has_the_adjusted_ttl():
    activate(Runtime(clock=lambda: 0.0))
    r = rate(5)
    e = {"metric": 1, "ttl": 30.0, "time": 0.0}
    r.send(e)
    assert r.state()["s"]["last"]["ttl"] == 35.0
    assert e["ttl"] == 30.0  # the incoming event is never changed
    r2 = rate(5)
    r2.restore(r.state())
    assert r2._last()["ttl"] == 35.0


def test_rate_non_number_ttl_still_raises_at_send():
    r = rate(1)
    with pytest.raises(TypeError):
        r.send({"metric": 1, "ttl": "soon"})
