"""Core streams: where/when, smap, by, index, exception isolation, describe(), generators as children."""

import pytest

from dmon import (by, by_builder, changed, counter, describe, index, log, rate, sdo, smap,
                  smap_, when, where, with_)
from dmon.runtime import Runtime, activate
from dmon.testing import Harness, run


def primed(out):
    def g():
        while True:
            out.append((yield))
    gen = g()
    next(gen)
    return gen


def test_where_with_a_query_string_else_and_return_value():
    yes, no = [], []
    s = where('service = "cpu" and metric > 0.5', yes.append, else_=no.append)
    assert s.send({"service": "cpu", "metric": 0.9}) is True
    assert s.send({"service": "cpu", "metric": 0.1}) is False
    assert s.send({"service": "mem"}) is False
    assert [e.get("metric") for e in yes] == [0.9] and len(no) == 2


def test_where_with_function_and_dict_pattern():
    import re
    assert run(lambda out: where(lambda e: e["metric"] > 2, out), [{"metric": 1}, {"metric": 3}]) == [{"metric": 3}]
    evs = [{"service": "foo"}, {"service": "food", "host": "web-1"}, {"service": "bar", "host": "web-2"}]
    assert run(lambda out: where({"service": re.compile("^foo"), "host": {"web-1", "web-2"}}, out), evs) == [evs[1]]


def test_when_is_where_and_a_raising_predicate_is_reported_not_fatal():
    errors = []
    activate(Runtime(on_exception=lambda w, e, x: errors.append((w, e, type(x)))))
    out = []
    s = when(lambda event: event["state"] == "warning", out.append)
    s.send({"host": "a"})
    s.send({"host": "a", "state": "warning"})
    assert out == [{"host": "a", "state": "warning"}]
    assert errors == [("where", {"host": "a"}, KeyError)]


def test_a_raising_child_does_not_stop_the_next_child():
    errors = []
    activate(Runtime(on_exception=lambda w, e, x: errors.append(type(x))))
    out = []

    def bad(e):
        raise RuntimeError("child")
    s = sdo(bad, out.append)
    s.send({"host": "a"})
    s.send({"host": "b"})
    assert [e["host"] for e in out] == ["a", "b"] and errors == [RuntimeError, RuntimeError]


def test_smap_drops_none_and_smap_star_passes_it():
    assert run(lambda out: smap(lambda e: e, out), [1, None, False, 3]) == [1, False, 3]
    assert run(lambda out: smap_(lambda e: e, out), [1, None, False, 3]) == [1, None, False, 3]


def test_smap_does_not_mutate_the_input_event():
    e = {"host": "a", "tags": ["x"]}
    run(lambda out: with_("state", "ok", out), [e])
    assert e == {"host": "a", "tags": ["x"]}


def test_generators_work_as_children():
    out = []
    s = where('host = "a"', primed(out))
    s.send({"host": "a"})
    assert out == [{"host": "a"}]


def test_by_keeps_one_fork_per_key_and_rebuilds_built_in_children():
    out = []
    s = by("host", counter(out.append))
    for h, m in (("a", 1), ("b", 10), ("a", 2), ("b", 20)):
        s.send({"host": h, "metric": m})
    assert [e["metric"] for e in out] == [1, 10, 3, 30]
    assert set(s.forks) == {"a", "b"}


def test_by_several_fields_and_factories():
    out = []
    s = by(["host", "service"], lambda: counter(out.append))
    for h, sv in ((1, "a"), (1, "b"), (1, "a"), (2, "a")):
        s.send({"host": h, "service": sv, "metric": 1})
    assert [e["metric"] for e in out] == [1, 1, 2, 1]
    assert set(s.forks) == {(1, "a"), (1, "b"), (2, "a")}


def test_by_with_a_user_generator_asks_for_a_factory():
    with pytest.raises(TypeError, match="lambda"):
        by("host", primed([]))


def test_by_builder_passes_the_key():
    out = run(lambda out: by_builder(["host", "service"], lambda k: with_("description", repr(k), out)),
              [{"host": "h", "service": "s"}])
    assert out == [{"host": "h", "service": "s", "description": "('h', 's')"}]


def test_by_idle_forks_are_closed_and_dropped():
    h = Harness()
    out = []
    s = h.build(lambda: by("host", rate(1, out.append), idle=10))
    s.send({"host": "a", "metric": 1})
    h.advance(5)
    s.send({"host": "b", "metric": 1})
    h.advance(5.5)   # the collector runs every 10 s: at t=10, a (last seen at 0) goes
    assert set(s.forks) == {"b"}
    # a's rate timer went with its fork; b's is still there
    assert len([t for t in h.rt.pending_timers() if t.name == "rate"]) == 1
    h.advance(20)
    assert s.forks == {}


def test_index_writes_to_the_runtime_active_at_construction():
    rt1 = activate(Runtime(clock=lambda: 1.0))
    s = index()
    activate(Runtime())
    s.send({"host": "a", "service": "b", "metric": 1})
    s.send([{"host": "c", "service": "d"}])
    assert rt1.lookup("a", "b")["metric"] == 1 and rt1.lookup("c", "d") is not None


def test_describe_gives_a_plain_graph():
    s = where('service = "cpu"', by("host", rate(5, index())), log("warning"), lambda e: None)
    assert describe(s) == {
        "stream": "where", "query": 'service = "cpu"',
        "children": [
            {"stream": "by", "fields": ["host"],
             "children": [{"stream": "rate", "interval": 5, "children": [{"stream": "index"}]}]},
            {"stream": "log", "level": "warning"},
            {"stream": "python"},
        ],
        "else": [],
    }
    assert describe(where(lambda e: True))["predicate"] == "python"
    assert describe(changed("state", index()))["field"] == "state"


def test_close_cancels_timers_below():
    h = Harness()
    s = h.build(lambda: where("true", rate(1, index())))
    s.send({"metric": 1})
    assert h.rt.pending_timers()
    s.close()
    assert h.rt.pending_timers() == []
