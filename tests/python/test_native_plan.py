"""dmon.native.plan: the descriptions the server's native engine compiles, and what keeps a stream in Python."""

import json

from dmon import (by, changed_state, describe, exception_stream, index, rate, smap, throttle, where,
                  with_)
from dmon.native import plan, plan_json, plan_refs
from dmon.streams import _Index


def test_by_factories_are_called_once_and_described():
    s = where('service = "svc-1"', by(["host"], lambda: rate(5, index())))
    fork = plan(s)["children"][0]
    assert fork["stream"] == "by" and fork["fields"] == ["host"]
    assert fork["children"] == [{"stream": "factory", "children": [
        {"stream": "rate", "interval": 5, "children": [{"stream": "index"}]}]}]
    # Outside planning, describe() never calls user functions.
    assert describe(s)["children"][0]["children"] == [{"stream": "python"}]


def test_factories_that_build_python_stay_python():
    assert plan(by("host", lambda: smap(lambda e: e, index())))["children"][0]["children"][0] == {
        "stream": "smap", "children": [{"stream": "index"}]}
    assert plan(by("host", lambda: (lambda e: None)))["children"] == [{"stream": "python"}]
    assert plan(by("host", lambda: 1 / 0))["children"] == [{"stream": "python"}]


def test_extras_the_compiler_needs():
    t = throttle(2, 1, index())
    assert plan(t)["anchor"] == t.anchor
    assert "anchor" not in describe(t)
    w = plan(with_({"state": "ok", "env": "x"}, index()))
    assert w["field_list"] == [["state", "ok"], ["env", "x"]]
    assert plan(changed_state(index(), init="ok"))["children"][0]["init"] == "ok"
    assert plan(where(True, index()))["constant"] is True


def test_subclasses_and_exception_handling_show_as_python():
    class MyIndex(_Index):
        pass
    assert plan(MyIndex()) == {"stream": "python"}
    s = exception_stream(index(), where('host = "a"', index()))
    assert plan(s) == {"stream": "python"}


def test_python_predicates_are_referenced():
    w = where(lambda e: True, index())
    text, refs = plan_refs(where('host = "a"', w))
    d = json.loads(text)
    assert refs[d["children"][0]["ref"]] == (w.pred, w)
    assert "ref" not in plan(w)  # only plan_refs hands out references


def test_values_json_cannot_hold_become_opaque():
    d = json.loads(plan_json(with_("metric", object(), index())))
    assert "python" in d["field_list"][0][1]


def test_shared_stateful_streams_stay_python():
    r = rate(5, index())
    d = plan(where('host = "a"', r, else_=r))
    assert d["children"][0]["stream"] == "rate" and d["else"][0] == {"stream": "python", "shared": True}
    # A shared stateless stream is fine: copies behave the same.
    out = index()
    assert plan(where('host = "a"', out, else_=out))["else"] == [{"stream": "index"}]
    # A factory handing every key the same rate shares its state across keys in Python.
    assert plan(by("host", lambda: r))["children"][0]["stream"] == "python"
    calls = []
    assert plan(by("host", lambda: calls.append(1) or (rate(1) if len(calls) == 1 else index())))[
        "children"][0] == {"stream": "python", "factory": "builds different graphs"}


def test_python_subtrees_below_native_streams_are_referenced_with_their_parent():
    m = smap(lambda e: e, index())
    w = where('host = "a"', m)
    text, refs = plan_refs(w)
    d = json.loads(text)
    assert refs[d["children"][0]["leaf"]] == (m, w)
    # Subtrees with timers stay out: they would fire in another order than native timers.
    text, refs = plan_refs(where('host = "a"', smap(lambda e: e, rate(1, index()))))
    assert "leaf" not in json.loads(text)["children"][0]
