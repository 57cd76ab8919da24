"""The Riemann query language: parsing, precedence and matching semantics (RIEMANN.md §3)."""

import math

import pytest

from dmon.query import QueryError, compile_query, parse


def check(q, good, evil):
    f = compile_query(q)
    for e in good:
        assert f(e), (q, e)
    for e in evil:
        assert not f(e), (q, e)


@pytest.mark.parametrize("q,ast", [
    ("state = true", ("=", ("field", "state"), ("lit", True))),
    ("ttl = 64", ("=", ("field", "ttl"), ("lit", 64))),
    ("true", ("truthy", ("lit", True))),
    ("null", ("truthy", ("lit", None))),
    ("state = -1", ("=", ("field", "state"), ("lit", -1))),
    ("state = 1E5", ("=", ("field", "state"), ("lit", 1e5))),
    ("state = -1.2e-5", ("=", ("field", "state"), ("lit", -1.2e-5))),
    ('state = "\\b\\t\\n\\f\\r"', ("=", ("field", "state"), ("lit", "\b\t\n\f\r"))),
    ('state = " \\" \\\\ "', ("=", ("field", "state"), ("lit", ' " \\ '))),
    ('state = "辻斬"', ("=", ("field", "state"), ("lit", "辻斬"))),
    ("state != 2", ("!=", ("field", "state"), ("lit", 2))),
    ('state =~ "%foo%"', ("like", ("field", "state"), "%foo%")),
    ('tagged "cat"', ("tagged", "cat")),
    ("not host = 1 and host = 2",
     ("and", ("not", ("=", ("field", "host"), ("lit", 1))), ("=", ("field", "host"), ("lit", 2)))),
    ("not host = 1 or host = 2 and host = 3",
     ("or", ("not", ("=", ("field", "host"), ("lit", 1))),
      ("and", ("=", ("field", "host"), ("lit", 2)), ("=", ("field", "host"), ("lit", 3))))),
    ("((host = 1))", ("=", ("field", "host"), ("lit", 1))),
])
def test_parse_matches_riemanns_ast(q, ast):
    assert parse(q) == ast


def test_truthy_literals():
    check("true", [{"state": "foo"}, {}], [])
    check("false", [], [{"state": "foo"}, {}])
    check("null", [], [{"state": "foo"}, {}])
    check("nil", [], [{}])


def test_equal_and_not_equal():
    check('state = "foo"', [{"state": "foo"}], [{"state": "bar"}, {}])
    check("state != 1", [{"state": 0.5}, {}], [{"state": 1}])


def test_equality_is_clojures_one_is_not_one_point_zero():
    check("metric = 1", [{"metric": 1}], [{"metric": 1.0}, {"metric": True}])
    check("metric = 1.0", [{"metric": 1.0}], [{"metric": 1}])
    check("host = service", [{"host": "a", "service": "a"}, {}], [{"host": "a"}])


def test_like_is_anchored_with_percent_wildcards():
    check('host =~ "%s."', [{"host": "s."}, {"host": "foos."}], [{"host": "a."}, {"host": "s.murf"}, {}])
    check('host =~ "a.c"', [{"host": "a.c"}], [{"host": "abc"}])


def test_regex_is_unanchored():
    check('host ~= "foo?[1-9]+"', [{"host": "foo19"}, {"host": "foo1"}, {"host": "fo42"}],
          [{"host": "abc"}, {"host": "foo"}, {"host": "fooo42"}, {}, {"host": 1}])


def test_inequalities_need_numbers():
    check("metric > 1e10", [{"metric": 1e11}], [{"metric": 1e10}, {}, {"metric": "2e10"}])
    check("metric >= -1", [{"metric": 0}, {"metric": -1}], [{"metric": -2}, {}])
    check("metric < 1.2e2", [{"metric": 1.5e1}], [{"metric": 1.2e2}, {}])
    check("metric <= 1", [{"metric": 1}, {"metric": -20}], [{"metric": 2}, {}, {"metric": True}])


def test_tagged():
    check('tagged "cat"', [{"tags": ["cat", "dog"]}, {"tags": ["cat"]}], [{"tags": ["dog"]}, {}])


def test_null_comparisons():
    check("time = null and description != nil",
          [{"time": None, "description": True}, {"description": "hey"}],
          [{"time": 2, "description": True}, {"description": None}, {}])


def test_boolean_grouping():
    check("not ((host = 1 or host = 2) and service = 3)",
          [{"host": 1}, {"service": 3}, {}], [{"host": 2, "service": 3}])


def test_custom_fields_read_attributes_and_top_level_keys():
    check('paws = "4" and tagged "catz"',
          [{"attributes": {"paws": "4"}, "tags": ["fuzzy", "catz"]}],
          [{"attributes": {"paws": "4"}, "tags": ["fuzzy"]}, {"attributes": {"paws": "3"}, "tags": ["catz"]}])
    check("paws = 4", [{"paws": 4}], [{"attributes": {"paws": "4"}}])


def test_bare_field_is_clojure_truthiness():
    check("metric", [{"metric": 0}, {"metric": ""}], [{}, {"metric": False}])


def test_operators_glued_to_names_make_one_name():
    # metric>2 lexes as a single (always nil) field name, as in Riemann.
    check("metric>2", [], [{"metric": 3}])


def test_commas_are_whitespace_and_special_floats_parse():
    check('host = "a",  and, metric > -Infinity', [{"host": "a", "metric": 1}], [{"host": "b", "metric": 1}])
    assert math.isnan(parse("metric = NaN")[2][1])


@pytest.mark.parametrize("bad", ['service = ', 'service = "cpu', "(host = 1", "metric > \"x\"",
                                 "host = 1 host = 2", 'tagged cat', '= 1', "metric ~= 3"])
def test_parse_errors_say_what_was_expected(bad):
    with pytest.raises(QueryError) as exc:
        compile_query(bad)
    assert "parse error" in str(exc.value)


def test_compiled_queries_are_cached():
    assert compile_query('service = "x"') is compile_query('service = "x"')
