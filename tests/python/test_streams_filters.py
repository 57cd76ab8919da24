"""Filters and transforms, case by case against Riemann's streams_test.clj semantics."""

import operator
import re

import pytest

from dmon import (adjust, default, expired, match, not_expired, over, pipe, scale, sdo,
                  sflatten, smap, smapcat, split, splitp, sreduce, tag, tagged, tagged_all,
                  tagged_any, under, untag, where, with_)
from dmon.runtime import Runtime, activate
from dmon.testing import Harness, run


def test_smapcat_and_sflatten():
    assert run(lambda out: smapcat(lambda e: [e, e], out), [0, 1, 2]) == [0, 0, 1, 1, 2, 2]
    assert run(lambda out: sflatten(out), [[0, 1, 2, 3], [4, 5, 6, 7]]) == list(range(8))


def test_sdo_fans_out_and_empty_sdo_discards():
    a, b = [], []
    s = sdo(a.append, b.append)
    for x in (1, 2, 3):
        s.send(x)
    assert a == b == [1, 2, 3]
    sdo().send(1)


def test_sreduce_with_and_without_init():
    assert run(lambda out: sreduce(operator.add, out, init=1), [1, 2, 3]) == [2, 4, 7]
    assert run(lambda out: sreduce(operator.add, out), [1, 2, 3, 4]) == [3, 6, 10]


def test_match_values_sets_regexes_functions_maps_and_none():
    assert run(lambda out: match("service", "foo", out), [{}, {"service": "bar"}, {"service": "foo"}]) == [{"service": "foo"}]
    assert run(lambda out: match("metric", {0, 2}, out), [{}, {"metric": 1}, {"metric": 2}]) == [{"metric": 2}]
    assert run(lambda out: match("state", re.compile("^mi"), out),
               [{}, {"state": "migas"}, {"state": "other breakfast foods"}]) == [{"state": "migas"}]
    assert run(lambda out: match(lambda e: e, 2, out), [1, 2, 3]) == [2]
    assert run(lambda out: match(lambda e: e, {"state": re.compile("^mi"), "host": "other"}, out),
               [{}, {"state": "migas"}, {"state": "migas", "host": "other"}]) == [{"state": "migas", "host": "other"}]
    assert run(lambda out: match("host", None, out), [{}, {"host": None}, {"host": "foo"}]) == [{}, {"host": None}]
    assert run(lambda out: match("metric", lambda m: m is not None and m > 1, out),
               [{"metric": 1}, {"metric": 2}, {}]) == [{"metric": 2}]


def test_untag_and_tag():
    evs = [{}, {"service": "a", "tags": []}, {"service": "a", "tags": ["foo"]},
           {"service": "b", "tags": ["foo", "bar", "baz"]}]
    assert run(lambda out: untag("foo", out), evs) == [
        {"tags": []}, {"service": "a", "tags": []}, {"service": "a", "tags": []},
        {"service": "b", "tags": ["bar", "baz"]}]
    assert run(lambda out: untag(["foo", "bar"], out), evs)[-1] == {"service": "b", "tags": ["baz"]}
    assert run(lambda out: tag("foo", out), [{}, {"tags": ["foo"]}, {"tags": ["bar", "baz"]}]) == [
        {"tags": ["foo"]}, {"tags": ["foo"]}, {"tags": ["foo", "bar", "baz"]}]
    assert run(lambda out: tag(["foo", "bar"], out), [{}, {"tags": ["foo"]}, {"tags": ["foo", "baz"]}]) == [
        {"tags": ["foo", "bar"]}, {"tags": ["foo", "bar"]}, {"tags": ["foo", "bar", "baz"]}]


def test_tagged_all_any_and_return_values():
    evs = [{"tags": ["kitten", "cat"]}, {"tags": ["kitten", "cat", "meow"]}, {"tags": ["dog", "cat"]},
           {"tags": ["cat"]}, {"tags": []}, {}]
    assert run(lambda out: tagged_all(["kitten", "cat"], out), evs) == evs[:2]
    assert run(lambda out: tagged_any(["kitten", "cat"], out), evs) == evs[:4]
    assert tagged is tagged_all
    assert tagged_all(["meow", "bark"]).send({"tags": ["meow", "bark", "grr"]}) is True
    assert tagged_all(["meow", "bar"]).send({"tags": ["meow"]}) is False
    assert tagged_any(["meow", "bark"]).send({"tags": ["meow", "moo"]}) is True
    assert tagged_any(["meow", "bar"]).send({"tags": ["moo"]}) is False


def test_where_query_tagged_and_else():
    evs = [{}, {"tags": []}, {"tags": ["blah"]}, {"tags": ["foo"]}, {"tags": ["foo", "bar"]}]
    assert run(lambda out: where('tagged "foo"', out), evs) == evs[3:]
    assert run(lambda out: where('tagged "foo" and tagged "bar"', out), evs) == evs[4:]
    a, b = [], []
    s = where('service ~= "a"', lambda e: a.append(e.get("service")), else_=lambda e: b.append(e.get("service")))
    for sv in ("cat", "dog", None, "badger"):
        s.send({"service": sv} if sv else {})
    assert a == ["cat", "badger"] and b == ["dog", None]


def test_where_with_true_false_none():
    assert where(True).send({}) is True
    assert where(None).send({}) is False


def _states(out):
    return [(e["metric"], e.get("state")) for e in out]


def test_split_first_match_with_and_without_default():
    evs = [{"metric": 15}, {"metric": 8}, {"metric": 2}]
    out = run(lambda out: split("metric > 10", with_("state", "critical", out),
                                lambda e: e["metric"] > 5, with_("state", "warn", out),
                                with_("state", "ok", out)), evs)
    assert _states(out) == [(15, "critical"), (8, "warn"), (2, "ok")]
    out = run(lambda out: split("metric > 10", with_("state", "critical", out),
                                "metric > 5", with_("state", "warn", out)), evs)
    assert _states(out) == [(15, "critical"), (8, "warn")]


def test_split_children_are_built_once():
    n = []
    s = split(lambda e: True, sreduce(lambda a, e: a + 1, n.append, init=0))
    for _ in range(3):
        s.send({})
    assert n == [1, 2, 3]


def test_splitp_with_default_and_without():
    evs = [{"metric": 15}, {"metric": 8}, {"metric": 2}]
    out = run(lambda out: splitp(operator.le, "metric", 10, with_("state", "crit", out),
                                 5, with_("state", "warn", out), with_("state", "ok", out)), evs)
    assert _states(out) == [(15, "crit"), (8, "warn"), (2, "ok")]
    with pytest.raises(ValueError):
        splitp(operator.eq, lambda e: True, False, sdo()).send({})


def test_splitp_raising_inside_a_parent_is_reported():
    errors = []
    activate(Runtime(on_exception=lambda w, e, x: errors.append(type(x))))
    s = sdo(splitp(operator.eq, "state", "ok", sdo()))
    s.send({"state": "bad"})
    assert errors == [ValueError]


def test_default_and_with():
    assert run(lambda out: default("service", "foo", out), [{"service": None}, {"service": "bar", "x": 1}]) == [
        {"service": "foo"}, {"service": "bar", "x": 1}]
    out = run(lambda out: default({"service": "foo", "state": None}, out), [{}, {"service": "bar", "state": "evil"}])
    assert out == [{"service": "foo"}, {"service": "bar", "state": "evil"}]
    assert run(lambda out: with_("service", "foo", out), [{"service": "bar", "test": "baz"}]) == [
        {"service": "foo", "test": "baz"}]
    assert run(lambda out: with_("service", "foo", out), [[{"service": "bar"}]]) == [[{"service": "foo"}]]
    assert run(lambda out: with_({"service": "foo", "state": None}, out), [{"service": "bar", "state": "evil"}]) == [
        {"service": "foo"}]
    assert run(lambda out: with_({}, out), [{"service": "bar"}]) == [{"service": "bar"}]


def test_with_and_default_put_custom_fields_in_attributes():
    out = run(lambda out: with_("env", "prod", default("team", "ops", out)),
              [{"host": "a", "attributes": {"team": "web"}}, {"host": "b"}])
    assert out == [{"host": "a", "attributes": {"team": "web", "env": "prod"}},
                   {"host": "b", "attributes": {"env": "prod", "team": "ops"}}]


def test_adjust_field_and_function():
    assert run(lambda out: adjust(["state", lambda s, x: (s or "") + x, " 2"], out),
               [{}, {"state": "hey", "service": "bar"}]) == [{"state": " 2"}, {"state": "hey 2", "service": "bar"}]
    assert run(lambda out: adjust(lambda e: {**e, "metric": len(e["tags"])}, out),
               [{"tags": ["foo", "bar"]}]) == [{"tags": ["foo", "bar"], "metric": 2}]


def test_scale():
    assert run(lambda out: scale(2, out), [{"metric": 3}, {}]) == [{"metric": 6}, {}]


def test_over_and_under():
    evs = [{"metric": m} for m in (0.5, 1, 1.5, 2, 2.5)] + [{}]
    assert [e["metric"] for e in run(lambda out: over(1.5, out), evs)] == [2, 2.5]
    assert [e["metric"] for e in run(lambda out: under(1.5, out), evs)] == [0.5, 1]


def test_expired_and_not_expired_by_state_and_by_time():
    evs = [{"state": "expired"}, {"state": "ok"}, {"state": "warning"}, {"state": "expired"}]
    assert run(lambda out: expired(out), evs) == [evs[0], evs[3]]
    assert run(lambda out: not_expired(out), evs) == evs[1:3]
    h = Harness()
    got, kept = [], []
    s = h.build(lambda: sdo(expired(got.append), not_expired(kept.append)))
    s.send({"time": 0, "ttl": 10})
    h.advance_to(10)
    for e in ({"time": 1, "ttl": 5}, {"time": 6, "ttl": 2}, {"time": 10, "ttl": 2}):
        s.send(e)
    assert got == [{"time": 1, "ttl": 5}, {"time": 6, "ttl": 2}]
    assert kept == [{"time": 0, "ttl": 10}, {"time": 10, "ttl": 2}]


def test_pipe_chains_and_reuses_the_marker():
    assert run(lambda out: pipe(out), [1, 2, 3]) == [1, 2, 3]
    assert run(lambda out: pipe(lambda d: smap(lambda x: x + 1, d), lambda d: smap(lambda x: x * 2, d), out),
               [1, 2, 3]) == [4, 6, 8]
    out = run(lambda out: pipe(lambda d: splitp(operator.lt, "metric", 0.9, with_("state", "critical", d),
                                                0.5, with_("state", "warning", d), with_("state", "ok", d)),
                               out),
              [{"metric": 0.1}, {"metric": 0.7}, {"metric": 1.0}])
    assert [e["state"] for e in out] == ["ok", "warning", "critical"]
