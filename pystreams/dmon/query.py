"""Riemann's query language (RIEMANN.md §3) parsed and compiled to Python predicates."""

from __future__ import annotations

import functools
import math
import operator
import re
from typing import Any, Callable

from .events import CORE_KEYS, field, is_number

__all__ = ["QueryError", "compile_query", "parse"]

Predicate = Callable[[dict], bool]


class QueryError(ValueError):
    """A query string that does not parse; the message says where and why."""


_NAME_HEAD = r"[^0-9^`'\"#~@:/%()\[\]{} \n\r\t,]"
_NAME_REST = r"[^^`'\"#~@:/%()\[\]{} \n\r\t,]"
_NAME = re.compile(f"{_NAME_HEAD}{_NAME_REST}*(?::{_NAME_REST}+)*")
_NUMBER = re.compile(r"-?(?:Infinity|NaN|[0-9]+(?:(\.[0-9]+)?([eE]-?[0-9]+)?)[lLnN]?)")
_OPS = ("!=", "<=", ">=", "=~", "~=", "=", "<", ">")
_KEYWORDS = {"and", "or", "not", "tagged", "true", "false", "nil", "null"}
_ESCAPES = {'"': '"', "\\": "\\", "b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", "/": "/"}


def _lex(s: str) -> list[tuple[str, Any, int]]:
    """Tokens as (kind, value, position); kinds: str num op ( ) kw name end."""
    out: list[tuple[str, Any, int]] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c in " \n\r\t,":
            i += 1
            continue
        if c == '"':
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise QueryError(f"parse error: unterminated string at {i} in {s!r}")
                d = s[j]
                if d == '"':
                    break
                if d == "\\" and j + 1 < n:
                    e = s[j + 1]
                    if e == "u" and j + 5 < n:
                        buf.append(chr(int(s[j + 2:j + 6], 16)))
                        j += 6
                        continue
                    buf.append(_ESCAPES.get(e, e))
                    j += 2
                    continue
                buf.append(d)
                j += 1
            out.append(("str", "".join(buf), i))
            i = j + 1
            continue
        if c in "()":
            out.append((c, c, i))
            i += 1
            continue
        # Longest match wins, as in the ANTLR lexer; on a tie literals beat names.
        best: tuple[str, Any, int] | None = None
        m = _NUMBER.match(s, i)
        if m:
            best = ("num", m.group(0), m.end())
        for op in _OPS:
            if s.startswith(op, i) and (best is None or i + len(op) > best[2]):
                best = ("op", op, i + len(op))
        m = _NAME.match(s, i)
        if m and (best is None or m.end() > best[2]):
            word = m.group(0)
            best = ("kw" if word in _KEYWORDS else "name", word, m.end())
        if best is None:
            raise QueryError(f"parse error: unexpected {c!r} at {i} in {s!r}")
        kind, text, end = best
        out.append((kind, _number(text) if kind == "num" else text, i))
        i = end
    out.append(("end", None, n))
    return out


def _number(text: str) -> int | float:
    t = text[:-1] if text[-1] in "lLnN" and text[-2:-1].isdigit() else text
    if "Infinity" in t:
        return -math.inf if t.startswith("-") else math.inf
    if "NaN" in t:
        return math.nan
    if any(ch in t for ch in ".eE"):
        return float(t)
    return int(t)


class _Parser:
    def __init__(self, s: str) -> None:
        self.s = s
        self.toks = _lex(s)
        self.i = 0

    def peek(self) -> tuple[str, Any, int]:
        return self.toks[self.i]

    def take(self) -> tuple[str, Any, int]:
        t = self.toks[self.i]
        self.i += 1
        return t

    def fail(self, what: str) -> QueryError:
        kind, val, pos = self.peek()
        got = "end of query" if kind == "end" else repr(val)
        return QueryError(f"parse error: expected {what} at {pos}, got {got} in {self.s!r}")

    def parse(self) -> tuple:
        ast = self.or_expr()
        if self.peek()[0] != "end":
            raise self.fail("'and', 'or' or end of query")
        return ast

    def or_expr(self) -> tuple:
        left = self.and_expr()
        while self.peek()[:2] == ("kw", "or"):
            self.take()
            left = ("or", left, self.and_expr())
        return left

    def and_expr(self) -> tuple:
        left = self.not_expr()
        while self.peek()[:2] == ("kw", "and"):
            self.take()
            left = ("and", left, self.not_expr())
        return left

    def not_expr(self) -> tuple:
        if self.peek()[:2] == ("kw", "not"):
            self.take()
            return ("not", self.not_expr())
        return self.primary()

    def primary(self) -> tuple:
        kind, val, _ = self.peek()
        if kind == "(":
            self.take()
            inner = self.or_expr()
            if self.peek()[0] != ")":
                raise self.fail("')'")
            self.take()
            return inner
        if (kind, val) == ("kw", "tagged"):
            self.take()
            if self.peek()[0] != "str":
                raise self.fail("a string after tagged")
            return ("tagged", self.take()[1])
        left = self.value()
        kind, op, _ = self.peek()
        if kind != "op":
            return ("truthy", left)
        self.take()
        if op in ("=", "!="):
            return ("=" if op == "=" else "!=", left, self.value())
        if op in ("<", ">", "<=", ">="):
            if self.peek()[0] != "num":
                raise self.fail(f"a number after {op}")
            return (op, left, ("lit", self.take()[1]))
        if self.peek()[0] != "str":
            raise self.fail(f"a string after {op}")
        return ("like" if op == "=~" else "regex", left, self.take()[1])

    def value(self) -> tuple:
        kind, val, _ = self.peek()
        if kind in ("num", "str"):
            self.take()
            return ("lit", val)
        if kind == "kw" and val in ("true", "false", "nil", "null"):
            self.take()
            return ("lit", {"true": True, "false": False}.get(val))
        if kind == "name":
            self.take()
            return ("field", val)
        raise self.fail("a value (field, string, number, true, false, nil)")


def parse(query: str) -> tuple:
    """Parse a query into a small AST of tuples.

    >>> parse('service = "cpu" and metric > 0.5')
    ('and', ('=', ('field', 'service'), ('lit', 'cpu')), ('>', ('field', 'metric'), ('lit', 0.5)))
    """
    return _Parser(query).parse()


def _clj_eq(a: Any, b: Any) -> bool:
    # Clojure's =: 1 and 1.0 differ, true is not 1.
    if a is None or b is None:
        return a is b
    ta, tb = type(a), type(b)
    if ta is bool or tb is bool:
        return ta is tb and a == b
    if is_number(a) and is_number(b):
        return isinstance(a, float) == isinstance(b, float) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_clj_eq(x, y) for x, y in zip(a, b))
    return a == b


def _value_fn(node: tuple) -> Callable[[dict], Any]:
    kind, v = node
    if kind == "lit":
        return lambda e: v
    if v in CORE_KEYS:
        return lambda e: e.get(v)
    return lambda e: field(e, v)


def _like_regex(pattern: str) -> re.Pattern:
    parts = re.findall(r"%|[^%]+", pattern)
    return re.compile("^" + "".join(".*" if p == "%" else re.escape(p) for p in parts) + "$")


def _truthy(v: Any) -> bool:
    # Clojure truthiness: only nil and false are false (0 and "" match).
    return v is not None and v is not False


def _compile(node: tuple) -> Predicate:
    op = node[0]
    if op == "and":
        a, b = _compile(node[1]), _compile(node[2])
        return lambda e: a(e) and b(e)
    if op == "or":
        a, b = _compile(node[1]), _compile(node[2])
        return lambda e: a(e) or b(e)
    if op == "not":
        a = _compile(node[1])
        return lambda e: not a(e)
    if op == "tagged":
        tag = node[1]
        return lambda e: tag in (e.get("tags") or ())
    if op == "truthy":
        f = _value_fn(node[1])
        return lambda e: _truthy(f(e))
    if op in ("=", "!="):
        left, right = node[1], node[2]
        fa = _value_fn(left)
        if right[0] == "lit" and isinstance(right[1], str) and left[0] == "field" \
                and left[1] in CORE_KEYS:
            # The commonest query (service = "cpu"): one call per event, not two.
            name, lit = left[1], right[1]
            if op == "=":
                return lambda e: e.get(name) == lit
            return lambda e: e.get(name) != lit
        if right[0] == "lit" and isinstance(right[1], str):
            # Against a string literal Python's == already is Clojure's =.
            lit = right[1]
            eq: Predicate = lambda e: fa(e) == lit
        else:
            fb = _value_fn(right)
            eq = lambda e: _clj_eq(fa(e), fb(e))
        if op == "=":
            return eq
        return lambda e: not eq(e)
    if op in ("<", ">", "<=", ">="):
        fa = _value_fn(node[1])
        b = node[2][1]
        cmp = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}[op]

        def ineq(e: dict) -> bool:
            a = fa(e)
            return is_number(a) and cmp(a, b)
        return ineq
    if op in ("like", "regex"):
        fa = _value_fn(node[1])
        rx = _like_regex(node[2]) if op == "like" else re.compile(node[2])
        search = rx.search

        def match(e: dict) -> bool:
            s = fa(e)
            return isinstance(s, str) and search(s) is not None
        return match
    raise QueryError(f"unknown query node {node!r}")


@functools.lru_cache(maxsize=64)
def compile_query(query: str) -> Predicate:
    """Compile a Riemann query string to a predicate on events (cached, like Riemann's
    64-entry LRU).

    >>> q = compile_query('service = "cpu" and metric > 0.5')
    >>> q({"service": "cpu", "metric": 0.9}), q({"service": "cpu"})
    (True, False)
    >>> compile_query('host =~ "web-%" and not tagged "maintenance"')({"host": "web-1"})
    True
    """
    # Every node already yields a bool, so no wrapper (one call less per event).
    return _compile(parse(query))
