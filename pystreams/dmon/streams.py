"""Riemann's stream vocabulary as Python objects: filters, fan-out, transforms, state, windows and intervals."""

from __future__ import annotations

import math
import re
from collections import deque
from typing import Any, Callable, Iterable, Mapping, Sequence

from . import folds
from .core import Child, Stream, builtin, child_send, describe, fresh, prime
from .events import (CORE_KEYS, DEFAULT_TTL, Event, expire, flatten, getter, is_expired, is_number,
                     setter)
from .query import compile_query
from .runtime import Touch

__all__ = [
    "where", "when", "where_", "match", "split", "splitp", "sdo", "smap", "smap_", "smapcat",
    "sflatten", "sreduce", "by", "by_builder", "with_", "default", "adjust", "scale", "tag",
    "untag", "tagged_all", "tagged", "tagged_any", "over", "under", "expired", "not_expired",
    "changed", "changed_state", "stable", "runs", "rate", "counter", "ddt", "ewma_timeless",
    "ewma", "percentiles", "fold_interval", "fold_interval_metric", "moving_event_window",
    "window", "fixed_event_window", "moving_time_window", "fixed_time_window",
    "fixed_offset_time_window", "coalesce", "project", "top", "dual", "throttle", "rollup",
    "batch", "fill_in", "fill_in_last", "interpolate_constant", "apdex", "clock_skew",
    "predict_linear", "pipe", "exception_stream", "execute_on", "async_queue", "index",
    "publish", "store", "bit_bucket", "append", "register", "matches", "MISSING", "regroup",
]

Pred = Callable[[Any], Any]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Sentinel for "no value yet" in streams that compare with the previous value."""


# -- predicates ------------------------------------------------------------------------


def matches(pattern: Any, value: Any) -> bool:
    """Riemann's ``match``: does ``pattern`` describe ``value``?

    A regex finds (unanchored) in a string; a set or frozenset contains; a function
    is called; a dict matches field by field; anything else compares with ``==``
    (``None`` matches ``None``).

    >>> matches(re.compile("^mi"), "migas"), matches({0, 2}, 2), matches({"state": "ok"}, {"state": "ok", "x": 1})
    (True, True, True)
    """
    if isinstance(pattern, re.Pattern):
        return isinstance(value, str) and pattern.search(value) is not None
    if isinstance(pattern, (set, frozenset)):
        try:
            return value in pattern
        except TypeError:
            return False
    if isinstance(pattern, Mapping):
        if not isinstance(value, Mapping):
            return False
        get = (lambda k: getter(k)(value)) if isinstance(value, dict) else value.get
        return all(matches(p, get(k)) for k, p in pattern.items())
    if callable(pattern):
        return bool(pattern(value))
    return pattern == value


def _predicate(pred: Any) -> tuple[Pred, Any]:
    """A predicate from a query string, a dict pattern or a function; also what
    describe() shows for it."""
    if isinstance(pred, str):
        return compile_query(pred), pred
    if isinstance(pred, Mapping):
        pattern = dict(pred)
        return (lambda e: matches(pattern, e)), None
    if callable(pred):
        return pred, None
    if pred is True or pred is False or pred is None:
        const = bool(pred)
        return (lambda e: const), str(pred).lower()
    raise TypeError(f"a predicate must be a query string, a dict pattern or a function, got {pred!r}")


def _as_children(x: Any) -> tuple:
    if x is None:
        return ()
    if isinstance(x, (list, tuple)):
        return tuple(x)
    return (x,)


# -- filters ---------------------------------------------------------------------------


class _Where(Stream):
    kind = "where"

    def __init__(self, pred: Any, children: Sequence[Child], else_: Any) -> None:
        super().__init__(children)
        self.pred, self.query = _predicate(pred)
        self._const = pred is True or pred is False or pred is None
        self.else_children = tuple(prime(c) for c in _as_children(else_))
        self._else_sends = tuple(child_send(c) for c in self.else_children)

    def send(self, event: Any) -> bool:
        try:
            ok = self.pred(event)
        except Exception as exc:
            # A predicate that raises (event["state"] on an event without one) drops
            # this event and reports; the stream lives on.
            self.fail(exc, event)
            return False
        if ok:
            send1 = self._send1
            if send1 is not None:  # emit() inlined: where is on every event's path
                try:
                    send1(event)
                except Exception as exc:
                    self.fail(exc, event)
            else:
                self.emit(event)
            return True
        if self._else_sends:
            self.emit_to(self._else_sends, event)
        return False

    def params(self) -> dict:
        return {"query": self.query} if self.query is not None else {"predicate": "python"}

    def native_extra(self) -> dict:
        from . import core
        if self._const:
            return {"constant": True}
        if self.query is None and core._plan_refs is not None:
            # A Python predicate: the native where calls self.pred and reports through self.fail.
            return {"ref": core.plan_ref(self.pred, self)}
        return {}

    def describe(self) -> dict:
        d = super().describe()
        d.setdefault("children", [])
        from .core import describe_child
        d["else"] = [describe_child(c, self) for c in self.else_children]
        return d

    def close(self) -> None:
        super().close()
        for c in self.else_children:
            if isinstance(c, Stream):
                c.close()

    def branches(self) -> list[tuple[str, Any]]:
        return super().branches() + [(f"else.{i}", c) for i, c in enumerate(self.else_children)]


def where(pred: str | Mapping[str, Any] | Callable[[Event], Any], *children: Child,
          else_: Child | Sequence[Child] | None = None) -> Stream:
    """Pass events for which ``pred`` holds to ``children``, the others to ``else_``.

    ``pred`` is a Riemann query string, a dict pattern (field -> value, regex, set or
    function, as in :func:`match`) or a function of the event. A predicate that raises
    is reported and the event dropped. ``send`` returns whether it matched.

    >>> from dmon.testing import run
    >>> run(lambda out: where('service = "cpu" and metric > 0.5', out),
    ...     [{"service": "cpu", "metric": 0.9}, {"service": "cpu", "metric": 0.1}])
    [{'service': 'cpu', 'metric': 0.9}]
    """
    return _Where(pred, children, else_)


when = where
"""Alias of :func:`where` (the name the original dmon README uses)."""

where_ = where
"""Riemann's ``where*``: the same as :func:`where` (it already takes functions)."""


class _Match(Stream):
    kind = "match"

    def __init__(self, f: Any, value: Any, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.f, self.value = getter(f), value
        self.field = f if isinstance(f, str) else None

    def send(self, event: Any) -> bool:
        try:
            ok = matches(self.value, self.f(event))
        except Exception as exc:
            self.fail(exc, event)
            return False
        if ok:
            self.emit(event)
        return ok

    def params(self) -> dict:
        v = self.value
        if isinstance(v, (str, int, float)) or v is None:
            return {"field": self.field, "value": v}
        return {"field": self.field, "value": "python"}

    def _test(self, event: Any) -> bool:
        return matches(self.value, self.f(event))

    def native_extra(self) -> dict:
        from . import core
        v = self.value
        if self.field is not None and type(v) in (str, type(None)):
            return {"equals": v}  # a field compared with a string or None: native
        ref = core.plan_ref(self._test, self)
        return {} if ref is None else {"ref": ref}


def match(f: str | Callable[[Event], Any], value: Any, *children: Child) -> Stream:
    """Pass events where ``f(event)`` matches ``value`` (see :func:`matches`): equality,
    set membership, regex search, a function, a dict pattern; ``None`` matches ``None``.

    >>> from dmon.testing import run
    >>> run(lambda out: match("state", {"warning", "critical"}, out),
    ...     [{"state": "ok"}, {"state": "critical"}])
    [{'state': 'critical'}]
    """
    return _Match(f, value, children)


class _Split(Stream):
    kind = "split"

    def __init__(self, clauses: Sequence[Any]) -> None:
        pairs: list[tuple[Pred | None, Any, Child]] = []
        items = list(clauses)
        while items:
            if len(items) == 1:
                pairs.append((None, None, items.pop(0)))
            else:
                p, s = items.pop(0), items.pop(0)
                fn, q = _predicate(p)
                pairs.append((fn, q, s))
        super().__init__([s for _, _, s in pairs])
        self.clauses = [(fn, q, send) for (fn, q, _), send in zip(pairs, self._sends)]

    def send(self, event: Any) -> Any:
        for fn, _, send in self.clauses:
            if fn is not None:
                try:
                    if not fn(event):
                        continue
                except Exception as exc:
                    self.fail(exc, event)
                    return None
            self.emit_to((send,), event)
            return True
        return None

    def params(self) -> dict:
        return {"queries": [q if fn is not None else "default" for fn, q, _ in self.clauses]}

    def native_extra(self) -> dict:
        from . import core
        out: list = []
        for fn, q, _ in self.clauses:
            if fn is None:
                out.append({"default": True})
            elif q is not None:
                out.append({"query": q})  # split(True, ...) shows as the query "true"
            else:
                ref = core.plan_ref(fn, self)
                out.append({"python": True} if ref is None else {"ref": ref})
        return {"clauses": out}


def split(*clauses: Any) -> Stream:
    """Send each event to the stream of the first clause whose predicate holds; an odd
    trailing stream is the default; events matching nothing are dropped. Predicates are
    query strings, dict patterns or functions (Riemann's ``split`` and ``split*``).

    >>> from dmon.testing import run
    >>> out = []
    >>> s = split("metric > 0.9", with_("state", "critical", out.append),
    ...           "metric > 0.75", with_("state", "warning", out.append),
    ...           with_("state", "ok", out.append))
    >>> for m in (0.95, 0.8, 0.1): _ = s.send({"metric": m})
    >>> [e["state"] for e in out]
    ['critical', 'warning', 'ok']
    """
    return _Split(clauses)


class _SplitP(Stream):
    kind = "splitp"

    def __init__(self, pred: Callable[[Any, Any], Any], expr: Any, clauses: Sequence[Any]) -> None:
        items = list(clauses)
        tests: list[Any] = []
        streams: list[Child] = []
        self.has_default = len(items) % 2 == 1
        while len(items) >= 2:
            tests.append(items.pop(0))
            streams.append(items.pop(0))
        if items:
            streams.append(items.pop(0))
        super().__init__(streams)
        self.pred = pred
        self.value = compile_query(expr) if isinstance(expr, str) and " " in expr.strip() else getter(expr)
        self.tests = tests

    def send(self, event: Any) -> Any:
        try:
            v = self.value(event)
            for i, t in enumerate(self.tests):
                if self.pred(t, v):
                    self.emit_to((self._sends[i],), event)
                    return True
        except Exception as exc:
            self.fail(exc, event)
            return None
        if self.has_default:
            self.emit_to((self._sends[-1],), event)
            return True
        raise ValueError(f"splitp: no clause matched {v!r} and there is no default stream")


def splitp(pred: Callable[[Any, Any], Any], expr: str | Callable[[Event], Any], *clauses: Any) -> Stream:
    """Like Clojure's ``condp``: for each ``test, stream`` clause, send the event to
    ``stream`` when ``pred(test, expr(event))`` holds; an odd trailing stream is the
    default. With no match and no default it raises (as Riemann does), which the parent
    stream reports. ``expr`` is a field name or a function.

    >>> import operator
    >>> out = []
    >>> s = splitp(operator.le, "metric", 0.9, with_("state", "critical", out.append),
    ...            0.5, with_("state", "warning", out.append), with_("state", "ok", out.append))
    >>> for m in (1.0, 0.7, 0.1): _ = s.send({"metric": m})
    >>> [e["state"] for e in out]
    ['critical', 'warning', 'ok']
    """
    return _SplitP(pred, expr, clauses)


class _Sdo(Stream):
    kind = "sdo"


def sdo(*children: Child) -> Stream:
    """Send each event to every child, in order (Riemann's ``sdo``, fan-out).

    >>> a, b = [], []
    >>> sdo(a.append, b.append).send({"metric": 1}); a == b == [{"metric": 1}]
    True
    """
    return _Sdo(children)


def bit_bucket(*_: Any) -> Stream:
    """A stream that discards everything (Riemann's ``bit-bucket``).

    >>> bit_bucket().send({"metric": 1})
    """
    return _Sdo(())


class _Append(Stream):
    kind = "append"

    def __init__(self, target: list) -> None:
        super().__init__()
        self.target = target

    def send(self, event: Any) -> None:
        self.target.append(event)


def append(target: list) -> Stream:
    """Append every event to ``target`` (a list); for tests.

    >>> out = []; append(out).send({"metric": 1}); out
    [{'metric': 1}]
    """
    return _Append(target)


class _Register(Stream):
    kind = "register"

    def __init__(self, target: list) -> None:
        super().__init__()
        self.target = target

    def send(self, event: Any) -> None:
        self.target[:] = [event]


def register(target: list) -> Stream:
    """Keep only the most recent event in ``target[0]``; for tests.

    >>> box = []; r = register(box); r.send(1); r.send(2); box
    [2]
    """
    return _Register(target)


class _TaggedAll(Stream):
    kind = "tagged_all"

    def __init__(self, tags: Any, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.tags = frozenset(flatten(tags))

    def send(self, event: Any) -> bool:
        if self.tags.issubset(event.get("tags") or ()):
            self.emit(event)
            return True
        return False

    def params(self) -> dict:
        return {"tags": sorted(self.tags)}


class _TaggedAny(_TaggedAll):
    kind = "tagged_any"

    def send(self, event: Any) -> bool:
        if not self.tags.isdisjoint(event.get("tags") or ()):
            self.emit(event)
            return True
        return False


def tagged_all(tags: str | Sequence[str], *children: Child) -> Stream:
    """Pass events that carry every one of ``tags`` (a tag or a list).

    >>> from dmon.testing import run
    >>> run(lambda out: tagged_all(["a", "b"], out), [{"tags": ["a"]}, {"tags": ["b", "a", "c"]}])
    [{'tags': ['b', 'a', 'c']}]
    """
    return _TaggedAll(tags, children)


tagged = tagged_all
"""Alias of :func:`tagged_all`."""


def tagged_any(tags: str | Sequence[str], *children: Child) -> Stream:
    """Pass events that carry at least one of ``tags``.

    >>> from dmon.testing import run
    >>> run(lambda out: tagged_any(["a", "b"], out), [{"tags": ["c"]}, {"tags": ["b"]}, {}])
    [{'tags': ['b']}]
    """
    return _TaggedAny(tags, children)


class _Over(Stream):
    kind = "over"

    def __init__(self, x: float, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.x = x

    def send(self, event: Any) -> None:
        m = event.get("metric")
        if m is not None and m > self.x:
            self.emit(event)

    def params(self) -> dict:
        return {"x": self.x}


class _Under(_Over):
    kind = "under"

    def send(self, event: Any) -> None:
        m = event.get("metric")
        if m is not None and m < self.x:
            self.emit(event)


def over(x: float, *children: Child) -> Stream:
    """Pass events whose metric is greater than ``x``; events without metric are dropped.

    >>> from dmon.testing import run
    >>> [e["metric"] for e in run(lambda out: over(1.5, out), [{"metric": m} for m in (1, 1.5, 2)])]
    [2]
    """
    return _Over(x, children)


def under(x: float, *children: Child) -> Stream:
    """Pass events whose metric is less than ``x``; events without metric are dropped.

    >>> from dmon.testing import run
    >>> [e["metric"] for e in run(lambda out: under(1.5, out), [{"metric": m} for m in (1, 1.5, 2)])]
    [1]
    """
    return _Under(x, children)


class _Expired(Stream):
    kind = "expired"
    want = True

    def send(self, event: Any) -> None:
        if is_expired(event, self.rt.now()) is self.want:
            self.emit(event)


class _NotExpired(_Expired):
    kind = "not_expired"
    want = False


def expired(*children: Child) -> Stream:
    """Pass expired events: state "expired", or older than their ttl (default 60 s).

    >>> from dmon.testing import run
    >>> run(lambda out: expired(out), [{"state": "expired"}, {"state": "ok"}])
    [{'state': 'expired'}]
    """
    return _Expired(children)


def not_expired(*children: Child) -> Stream:
    """Pass events that are not expired (see :func:`expired`).

    >>> from dmon.testing import run
    >>> run(lambda out: not_expired(out), [{"state": "expired"}, {"state": "ok"}])
    [{'state': 'ok'}]
    """
    return _NotExpired(children)


# -- transforms ------------------------------------------------------------------------


class _SMap(Stream):
    kind = "smap"
    pass_none = False

    def __init__(self, f: Callable[[Any], Any], children: Sequence[Child]) -> None:
        super().__init__(children)
        self.f = f

    def send(self, event: Any) -> None:
        try:
            v = self.f(event)
        except Exception as exc:
            self.fail(exc, event)
            return
        if v is not None or self.pass_none:
            self.emit(v)


class _SMapStar(_SMap):
    kind = "smap*"
    pass_none = True


def smap(f: Callable[[Any], Any], *children: Child) -> Stream:
    """Send ``f(event)`` to the children, skipping ``None`` results. ``f`` must return a
    new event rather than change the one it gets (events are shared between streams).

    >>> from dmon.testing import run
    >>> run(lambda out: smap(lambda e: {**e, "state": "ok"}, out), [{"metric": 1}])
    [{'metric': 1, 'state': 'ok'}]
    """
    return _SMap(f, children)


def smap_(f: Callable[[Any], Any], *children: Child) -> Stream:
    """Riemann's ``smap*``: like :func:`smap` but passes ``None`` results on too.

    >>> from dmon.testing import run
    >>> run(lambda out: smap_(lambda e: None, out), [{"metric": 1}])
    [None]
    """
    return _SMapStar(f, children)


class _SMapcat(_SMap):
    kind = "smapcat"

    def send(self, event: Any) -> None:
        try:
            items = list(self.f(event))
        except Exception as exc:
            self.fail(exc, event)
            return
        for e in items:
            self.emit(e)


def smapcat(f: Callable[[Any], Iterable[Any]], *children: Child) -> Stream:
    """Send each item of ``f(event)`` to the children.

    >>> from dmon.testing import run
    >>> run(lambda out: smapcat(lambda e: [e, e], out), [1, 2])
    [1, 1, 2, 2]
    """
    return _SMapcat(f, children)


class _SFlatten(Stream):
    kind = "sflatten"

    def send(self, events: Any) -> None:
        for e in events:
            self.emit(e)


def sflatten(*children: Child) -> Stream:
    """Take lists of events and send each event on.

    >>> from dmon.testing import run
    >>> run(lambda out: sflatten(out), [[1, 2], [3]])
    [1, 2, 3]
    """
    return _SFlatten(children)


class _SReduce(Stream):
    kind = "sreduce"

    def __init__(self, f: Callable[[Any, Any], Any], init: Any, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.f = f
        self.acc = init

    def send(self, event: Any) -> None:
        if self.acc is MISSING:
            self.acc = event
            return
        ok, v = self.call(self.f, self.acc, event)
        if ok:
            self.acc = v
            self.emit(v)

    def _state(self) -> Any:
        return {"acc": None if self.acc is MISSING else self.acc, "seeded": self.acc is not MISSING}

    def _restore(self, data: Any) -> None:
        if data:
            self.acc = data["acc"] if data.get("seeded") else MISSING


def sreduce(f: Callable[[Any, Any], Any], *args: Any, init: Any = MISSING) -> Stream:
    """Running reduction: keep ``acc``, and on each event send ``acc = f(acc, event)``.
    Without ``init`` the first event seeds ``acc`` and is not sent.

    >>> from dmon.testing import run
    >>> run(lambda out: sreduce(lambda a, b: a + b, out), [1, 2, 3, 4])
    [3, 6, 10]
    >>> run(lambda out: sreduce(lambda a, b: a + b, out, init=1), [1, 2, 3])
    [2, 4, 7]
    """
    return _SReduce(f, init, args)


def _copy_event(event: Any) -> Any:
    return dict(event) if isinstance(event, dict) else event


class _With(Stream):
    kind = "with"

    def __init__(self, fields: Mapping[str, Any], children: Sequence[Child]) -> None:
        super().__init__(children)
        self.fields = dict(fields)
        self._core = all(k in CORE_KEYS for k in self.fields)

    def _one(self, event: Event) -> Event:
        e = dict(event)
        if self._core:
            for k, v in self.fields.items():
                if v is None:
                    e.pop(k, None)
                else:
                    e[k] = v
        else:
            for k, v in self.fields.items():
                setter(e, k, v)
        return e

    def send(self, event: Any) -> None:
        if not self.fields:
            self.emit(event)
        elif isinstance(event, list):
            self.emit([self._one(e) for e in event])
        else:
            self.emit(self._one(event))

    def params(self) -> dict:
        return {"fields": dict(self.fields)}

    def native_extra(self) -> dict:
        # Field order matters (attributes are appended in it); JSON objects lose it.
        return {"field_list": [[k, v] for k, v in self.fields.items()]}


def with_(*args: Any) -> Stream:
    """Send a copy of each event with fields set: ``with_("state", "ok", ...)`` or
    ``with_({"state": "ok", "ttl": 60}, ...)``. ``None`` removes a field; names that are
    not Riemann fields become string attributes; lists of events are changed one by one.

    >>> from dmon.testing import run
    >>> run(lambda out: with_({"state": "ok", "host": None}, out), [{"host": "a", "metric": 1}])
    [{'metric': 1, 'state': 'ok'}]
    """
    if args and isinstance(args[0], Mapping):
        return _With(args[0], args[1:])
    if len(args) < 2:
        raise TypeError("with_ takes a dict of fields, or a field name and a value, then children")
    return _With({args[0]: args[1]}, args[2:])


class _Default(_With):
    kind = "default"

    def _one(self, event: Event) -> Event:
        e = dict(event)
        for k, v in self.fields.items():
            if v is not None and getter(k)(e) is None:
                setter(e, k, v)
        return e


def default(*args: Any) -> Stream:
    """Like :func:`with_`, but only sets fields that are missing (``None``).

    >>> from dmon.testing import run
    >>> run(lambda out: default({"ttl": 60, "state": "ok"}, out), [{"state": "warning"}])
    [{'state': 'warning', 'ttl': 60}]
    """
    if args and isinstance(args[0], Mapping):
        return _Default(args[0], args[1:])
    if len(args) < 2:
        raise TypeError("default takes a dict of fields, or a field name and a value, then children")
    return _Default({args[0]: args[1]}, args[2:])


class _Adjust(Stream):
    kind = "adjust"

    def __init__(self, name: str, f: Callable[..., Any], args: tuple, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.name, self.f, self.args = name, f, args
        self.get = getter(name)

    def send(self, event: Any) -> None:
        ok, v = self.call(lambda e: self.f(self.get(e), *self.args), event)
        if ok:
            e = dict(event)
            setter(e, self.name, v)
            self.emit(e)


def adjust(spec: Sequence[Any] | Callable[[Any], Any], *children: Child) -> Stream:
    """Change one field with a function: ``adjust(["service", lambda s, x: s + x, " rate"], ...)``
    sends ``service = f(service, *args)``; with a plain function it is :func:`smap`.

    >>> from dmon.testing import run
    >>> run(lambda out: adjust(["service", lambda s, x: (s or "") + x, " rate"], out), [{"service": "cpu"}])
    [{'service': 'cpu rate'}]
    """
    if callable(spec):
        return smap(spec, *children)
    name, f, *args = spec
    return _Adjust(name, f, tuple(args), children)


class _Scale(Stream):
    kind = "scale"

    def __init__(self, factor: float, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.factor = factor

    def send(self, event: Any) -> None:
        e = dict(event)
        m = e.get("metric")
        if m is not None:
            e["metric"] = m * self.factor
        self.emit(e)

    def params(self) -> dict:
        return {"factor": self.factor}


def scale(factor: float, *children: Child) -> Stream:
    """Multiply the metric by ``factor`` (events without metric pass unchanged).

    >>> from dmon.testing import run
    >>> run(lambda out: scale(1 / 1024, out), [{"metric": 2048}])
    [{'metric': 2.0}]
    """
    return _Scale(factor, children)


class _Tag(Stream):
    kind = "tag"

    def __init__(self, tags: Any, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.tags = list(dict.fromkeys(flatten(tags)))

    def send(self, event: Any) -> None:
        e = dict(event)
        e["tags"] = list(dict.fromkeys(self.tags + list(event.get("tags") or ())))
        self.emit(e)

    def params(self) -> dict:
        return {"tags": list(self.tags)}


class _Untag(_Tag):
    kind = "untag"

    def send(self, event: Any) -> None:
        e = dict(event)
        drop = self.tags
        e["tags"] = [t for t in (event.get("tags") or ()) if t not in drop]
        self.emit(e)


def tag(tags: str | Sequence[str], *children: Child) -> Stream:
    """Add tags (new ones first, without duplicates).

    >>> from dmon.testing import run
    >>> run(lambda out: tag(["foo", "bar"], out), [{"tags": ["baz", "foo"]}])
    [{'tags': ['foo', 'bar', 'baz']}]
    """
    return _Tag(tags, children)


def untag(tags: str | Sequence[str], *children: Child) -> Stream:
    """Remove tags.

    >>> from dmon.testing import run
    >>> run(lambda out: untag("foo", out), [{"tags": ["foo", "bar"]}, {}])
    [{'tags': ['bar']}, {'tags': []}]
    """
    return _Untag(tags, children)


# -- index, fan-out by key -------------------------------------------------------------


class _Sink(Stream):
    """Hands each event (each event of a list) to one of the runtime's sinks, named by
    ``sink``; looked up once, at construction, so the hot path is one call."""

    sink = ""

    def __init__(self) -> None:
        super().__init__()
        self._write = getattr(self.rt, self.sink)

    def send(self, event: Any) -> None:
        if isinstance(event, list):
            for e in event:
                self._write(e)
        else:
            self._write(event)


class _Index(_Sink):
    kind = "index"
    sink = "index"


def index() -> Stream:
    """Write each event to the index of the runtime the stream was built in (the node's
    index under the server; an in-memory one in plain Python). State "expired" deletes.

    >>> from dmon.runtime import Runtime, activate
    >>> rt = activate(Runtime(clock=lambda: 5.0)); index().send({"host": "a", "service": "b"})
    >>> rt.lookup("a", "b")
    {'host': 'a', 'service': 'b', 'time': 5.0}
    """
    return _Index()


class _Publish(Stream):
    kind = "publish"

    def __init__(self, topic: str) -> None:
        if not isinstance(topic, str) or not topic:
            raise ValueError(f"publish() needs a non-empty topic name, got {topic!r}")
        super().__init__()
        self.topic = topic
        self._publish = self.rt.publish

    def send(self, event: Any) -> None:
        if isinstance(event, list):
            for e in event:
                self._publish(self.topic, e)
        else:
            self._publish(self.topic, event)

    def params(self) -> dict:
        return {"topic": self.topic}


def publish(topic: str) -> Stream:
    """Publish each event (each event of a list) on ``topic`` (Riemann's ``publish``):
    under the server, WebSocket clients of ``/pubsub/<topic>?query=...`` receive it; in
    plain Python the runtime keeps the latest events per topic (``rt.published(topic)``)
    and calls ``rt.subscribe(topic, fn)`` subscribers. Nothing goes to the index.

    >>> from dmon.runtime import Runtime, activate
    >>> rt = activate(Runtime()); got = []; _ = rt.subscribe("cpu", got.append)
    >>> _ = where('service = "cpu"', publish("cpu")).send({"host": "a", "service": "cpu"}); got
    [{'host': 'a', 'service': 'cpu'}]
    """
    return _Publish(topic)


class _Store(_Sink):
    kind = "store"
    sink = "store"


def store() -> Stream:
    """Persist each event (each event of a list) to the event history: under the server,
    RocksDB with its retention settings, queried by time range and query; in plain
    Python a bounded in-memory list read back with ``rt.history(query, start, end)``.
    An event without time is stored with the current time. Riemann has no history.

    >>> from dmon.runtime import Runtime, activate
    >>> rt = activate(Runtime(clock=lambda: 7.0)); store().send({"host": "a", "metric": 1})
    >>> rt.history("metric = 1")
    [{'host': 'a', 'metric': 1, 'time': 7.0}]
    """
    return _Store()


class _By(Stream):
    kind = "by"

    def __init__(self, fields: Any, make: Callable[[Any], Sequence[Child]], templates: Sequence[Child],
                 idle: float | None, builder: bool) -> None:
        super().__init__(templates)
        self.fields = flatten(fields) if not callable(fields) or isinstance(fields, str) else [fields]
        getters = [getter(f) for f in self.fields]
        # One core field (by("host")): read it inline instead of through a getter.
        self._kfield = self.fields[0] if len(self.fields) == 1 and \
            isinstance(self.fields[0], str) and self.fields[0] in CORE_KEYS else None
        if len(getters) == 1:
            self.key = getters[0]
        elif all(isinstance(f, str) and f in CORE_KEYS for f in self.fields):
            # changed_state's by(["host", "service"]): no generator per event.
            names = tuple(self.fields)
            if len(names) == 2:
                a, b = names
                self.key = lambda e: (e.get(a), e.get(b))
            else:
                self.key = lambda e: tuple(map(e.get, names))
        else:
            self.key = lambda e: tuple(g(e) for g in getters)
        self.make = make
        self.idle = idle
        self.builder = builder
        self.forks: dict[Any, tuple[tuple, tuple, list]] = {}
        self._gc = None

    def _fork(self, k: Any) -> tuple[tuple, tuple, list]:
        rt = self.rt
        tag = Touch(rt.owner)
        outer, rt.owner = rt.owner, tag  # timers made by the fork's streams belong to it
        try:
            kids = tuple(prime(c) for c in self.make(k))
        finally:
            rt.owner = outer
        if self._exc_handler is not None:
            from .core import Stream as _S
            for c in kids:
                if isinstance(c, _S):
                    _bind_handler(c, self._exc_handler)
        sends = tuple(child_send(c) for c in kids)
        fork = (kids, sends, [0.0], sends[0] if len(sends) == 1 else None, tag)
        self.forks[k] = fork
        if self.idle is not None and self._gc is None:
            self._gc = self.every(self.idle, self._collect)
        return fork

    def send(self, event: Any) -> None:
        try:
            kf = self._kfield
            k = event.get(kf) if kf is not None else self.key(event)
            fork = self.forks.get(k)
        except Exception as exc:  # unhashable key from a user function, not an event
            self.fail(exc, event)
            return
        if fork is None:
            try:
                fork = self._fork(k)
            except Exception as exc:
                self.fail(exc, event)
                return
        rt = self.rt
        if self.idle is not None:
            fork[2][0] = rt.now()
        t = fork[4]
        while t is not None:  # Touch.mark() inlined
            t.dirty = True
            t = t.up
        outer, rt.owner = rt.owner, fork[4]
        send1 = fork[3]
        try:
            if send1 is not None:  # emit_to() inlined for the usual single-child fork
                try:
                    send1(event)
                except Exception as exc:
                    self.fail(exc, event)
            else:
                self.emit_to(fork[1], event)
        finally:
            rt.owner = outer

    def _collect(self) -> None:
        cutoff = self.rt.now() - self.idle
        for k, (kids, _, seen, _, _) in list(self.forks.items()):
            if seen[0] <= cutoff:
                del self.forks[k]
                for c in kids:
                    if isinstance(c, Stream):
                        c.close()

    def close(self) -> None:
        super().close()
        for kids, _, _, _, _ in self.forks.values():
            for c in kids:
                if isinstance(c, Stream):
                    c.close()
        self.forks.clear()
        self._gc = None

    def params(self) -> dict:
        d: dict = {"fields": [f if isinstance(f, str) else "python" for f in self.fields]}
        if self.idle is not None:
            d["idle"] = self.idle
        if self.builder:
            d["builder"] = "python"
        return d

    def _state(self, changed: bool = False) -> Any:
        forks = []
        for k, (kids, _, seen, _, tag) in self.forks.items():
            if changed and not tag.dirty:
                continue
            key = list(k) if isinstance(k, tuple) else k
            forks.append([key, [c.state() if isinstance(c, Stream) else None for c in kids], seen[0]])
        return {"forks": forks} if forks else None

    def _take_changed_state(self) -> Any:
        """The forks an event, a timer or a restore changed since the last call, which
        forgets them (dmon.state.snapshot(..., changed=True))."""
        out = self._state(changed=True)
        for fork in self.forks.values():
            fork[4].dirty = False
        return out

    def _restore(self, data: Any) -> None:
        if not data:
            return
        for key, states, seen in data.get("forks", ()):
            k = tuple(key) if isinstance(key, list) else key
            # A fork that exists (a key's state imported from its previous owner) is replaced
            # whole, so nothing of the local copy survives below it.
            old = self.forks.pop(k, None)
            if old is not None:
                for c in old[0]:
                    if isinstance(c, Stream):
                        c.close()
            kids, _, s, _, tag = self._fork(k)
            s[0] = seen
            rt = self.rt
            outer, rt.owner = rt.owner, tag
            try:
                for c, st in zip(kids, states):
                    if isinstance(c, Stream) and st is not None:
                        c.restore(st)
            finally:
                rt.owner = outer


def _templates_maker(children: Sequence[Any]) -> tuple[list, Callable[[Any], list]]:
    """Children of ``by`` as (what describe() shows, fork maker): built-in streams are
    rebuilt for every fork, zero-argument functions are called for every fork."""
    shown: list = []
    parts: list[Callable[[], list]] = []
    for c in children:
        if hasattr(c, "send") and callable(getattr(c, "send")):
            if not isinstance(c, Stream):
                raise TypeError(
                    f"by() cannot make a copy of {c!r} for each key; pass a function that "
                    f"builds it, e.g. by(['host'], lambda: my_stream())")
            shown.append(c)
            parts.append(lambda t=c: [fresh(t)])
        elif callable(c):
            shown.append(c)
            parts.append(lambda f=c: list(_as_children(f())))
        else:
            raise TypeError(f"by() children must be streams or functions that build them, got {c!r}")
    return shown, (lambda _k: [s for p in parts for s in p()])


def by(fields: str | Sequence[str] | Callable[[Event], Any], *children: Any,
       idle: float | None = None) -> Stream:
    """Fork by the value of ``fields`` (a field name, a list of names, or a function):
    every distinct key gets its own fresh copy of the children, so per-key state
    (rates, changes) stays apart.

    Children are built-in streams (rebuilt for each new key, as Riemann re-evaluates
    them; outputs and your own functions or generators inside them are shared) or
    functions of no argument that build them. With ``idle`` seconds, a fork that saw no event for that long is
    closed and forgotten (Riemann never frees them, PR #1004); otherwise forks live on.

    >>> from dmon.testing import run
    >>> run(lambda out: by("host", lambda: sreduce(lambda a, e: {**e, "metric": a["metric"] + e["metric"]}, out)),
    ...     [{"host": "a", "metric": 1}, {"host": "b", "metric": 5}, {"host": "a", "metric": 2}])
    [{'host': 'a', 'metric': 3}]
    """
    shown, make = _templates_maker(children)
    s = _By(fields, make, (), idle, False)
    s._shown = shown
    return s


def by_builder(fields: str | Sequence[str] | Callable[[Event], Any],
               build: Callable[[Any], Child | Sequence[Child]], *, idle: float | None = None) -> Stream:
    """Like :func:`by`, but ``build(key)`` makes the children of each fork, so they can
    depend on the key (a tuple for several fields).

    >>> from dmon.testing import run
    >>> run(lambda out: by_builder("host", lambda h: with_("description", f"fork {h}", out)),
    ...     [{"host": "a"}])
    [{'host': 'a', 'description': 'fork a'}]
    """
    return _By(fields, lambda k: list(_as_children(build(k))), (), idle, True)


def _describe_factory(f: Callable[[], Any], by: Any) -> dict:
    """For dmon.native.plan: call a by() child factory twice and describe what it builds, so
    ``by(["host"], lambda: rate(5, index()))`` can run natively. Both calls must build the
    same graph of built-ins without sharing a stateful stream (dmon.core._plan_seen shows a
    shared one as Python), as by() relies on when it calls the factory for every key."""
    def build() -> list | None:
        try:
            made = list(_as_children(f()))
        except Exception:
            return None
        return made if made and all(isinstance(m, Stream) for m in made) else None

    first, second = build(), build()
    if first is None or second is None:
        return {"stream": "python"}
    from .core import describe_child
    d1 = [describe_child(m, by) for m in first]
    d2 = [describe(m) for m in second]
    for m in first + second:
        m.close()
    if _without_anchors(d1) != _without_anchors(d2):
        return {"stream": "python", "factory": "builds different graphs"}
    return {"stream": "factory", "children": d1}


def _without_anchors(d: Any) -> Any:
    # Window anchors are creation times and refs number predicates: two calls differ there only.
    if isinstance(d, dict):
        return {k: _without_anchors(v) for k, v in d.items()
                if k not in ("anchor", "ref", "leaf")}
    if isinstance(d, list):
        return [_without_anchors(v) for v in d]
    return d


def _by_describe(self: _By) -> dict:
    from . import core
    d = {"stream": "by"}
    d.update(self.params())
    shown = getattr(self, "_shown", None)
    kids = []
    for c in shown or ():
        if isinstance(c, Stream):
            kids.append(core.describe_child(c, self))
        elif core._plan_mode and callable(c):
            kids.append(_describe_factory(c, self))
        else:
            kids.append({"stream": "python"})
    d["children"] = kids
    return d


_By.describe = _by_describe  # type: ignore[assignment]


class _Changed(Stream):
    kind = "changed"

    def __init__(self, f: Any, init: Any, pairs: bool, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.f = getter(f)
        self.field = f if isinstance(f, str) else None
        self.init = init
        self.prev_value = init
        self.prev_event: Any = None
        self.pairs = pairs

    def send(self, event: Any) -> None:
        try:
            v = self.f(event)
        except Exception as exc:
            self.fail(exc, event)
            return
        pv, pe = self.prev_value, self.prev_event
        self.prev_value, self.prev_event = v, event
        if pv != v:
            self.emit([pe, event] if self.pairs else event)

    def params(self) -> dict:
        return {"field": self.field or "python", "pairs": self.pairs}

    def native_extra(self) -> dict:
        from . import core
        d = {"init": self.init}
        ref = core.plan_ref(self.f, self)  # for values only Python compares exactly
        if ref is not None:
            d["ref"] = ref
        return d

    def _state(self) -> Any:
        return {"value": self.prev_value, "event": self.prev_event}

    def _restore(self, data: Any) -> None:
        if data:
            self.prev_value, self.prev_event = data["value"], data["event"]


def changed(f: str | Callable[[Event], Any], *children: Child, init: Any = None,
            pairs: bool = False) -> Stream:
    """Pass events whose ``f(event)`` differs from the previous event's (the first event
    compares with ``init``). With ``pairs=True`` sends ``[previous, current]``.

    >>> from dmon.testing import run
    >>> [e["state"] for e in run(lambda out: changed("state", out, init="ok"),
    ...     [{"state": s} for s in ("ok", "bad", "bad", "ok")])]
    ['bad', 'ok']
    """
    return _Changed(f, init, pairs, children)


def changed_state(*children: Child, init: Any = None) -> Stream:
    """Pass changes of state for each distinct host and service:
    ``by(["host", "service"], changed("state", ...))``.

    >>> from dmon.testing import run
    >>> evs = [{"host": 1, "state": "ok"}, {"host": 2, "state": "ok"}, {"host": 1, "state": "ok"}]
    >>> len(run(lambda out: changed_state(out), evs))
    2
    """
    return by(["host", "service"], changed("state", *children, init=init))


class _Runs(Stream):
    kind = "runs"

    def __init__(self, n: int, f: Any, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.n, self.f = n, getter(f)
        self.window: deque = deque(maxlen=max(n, 0) or None)
        self.field = f if isinstance(f, str) else "python"

    def send(self, event: Any) -> None:
        if self.n <= 0:
            return
        self.window.append(event)
        if len(self.window) >= self.n:
            ok, vals = self.call(lambda w: [self.f(e) for e in w], self.window)
            if ok and all(v == vals[0] for v in vals):
                self.emit(event)

    def params(self) -> dict:
        return {"n": self.n, "field": self.field}

    def _state(self) -> Any:
        return list(self.window) or None

    def _restore(self, data: Any) -> None:
        self.window.clear()
        self.window.extend(data or ())


def runs(n: int, f: str | Callable[[Event], Any], *children: Child) -> Stream:
    """Pass the newest event when the last ``n`` events all have the same ``f`` (flap
    damping, e.g. in front of :func:`changed_state`).

    >>> from dmon.testing import run
    >>> run(lambda out: runs(2, "state", out), [{"state": 1}, {"state": 2}, {"state": 2}])
    [{'state': 2}]
    """
    return _Runs(n, f, children)


class _Stable(Stream):
    kind = "stable"

    def __init__(self, dt: float, f: Any, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.dt, self.f = dt, getter(f)
        self.prev: Any = MISSING
        self.buffer: list = []

    def _timeout(self) -> None:
        buf = self.buffer
        if buf and self.dt <= self.rt.now() - buf[0]["time"]:
            self.buffer = []
            for e in buf:
                self.emit(e)

    def send(self, event: Any) -> None:
        ok, v = self.call(self.f, event)
        if not ok:
            return
        out: list = []
        if self.prev is not MISSING and v == self.prev:
            if not self.buffer:
                out = [event]
            else:
                self.buffer.append(event)
                if self.dt <= event["time"] - self.buffer[0]["time"]:
                    out, self.buffer = self.buffer, []
        else:
            self.prev = v
            self.buffer = [event]
        if len(self.buffer) == 1 and self.buffer[0] is event:
            # The value just changed: in dt seconds the buffer may be stable.
            self.at(self.dt + event["time"], self._timeout)
        for e in out:
            self.emit(e)

    def params(self) -> dict:
        return {"dt": self.dt}

    def _state(self) -> Any:
        if self.prev is MISSING:
            return None
        return {"prev": self.prev, "buffer": list(self.buffer)}

    def _restore(self, data: Any) -> None:
        if data:
            self.prev, self.buffer = data["prev"], list(data["buffer"])
            if self.buffer:
                self.at(self.dt + self.buffer[0]["time"], self._timeout)


def stable(dt: float, f: str | Callable[[Event], Any], *children: Child) -> Stream:
    """Pass events only once ``f(event)`` has kept one value for ``dt`` seconds (event
    time): a change is buffered, and flushed when the value held for ``dt`` (by a later
    event or by the clock); spikes and flapping are dropped.

    >>> from dmon.testing import run
    >>> run(lambda out: stable(3, "state", out),
    ...     [{"state": 0, "time": 0}, {"state": 0, "time": 3}, {"state": 1, "time": 4},
    ...      {"state": 0, "time": 5}])
    [{'state': 0, 'time': 0}, {'state': 0, 'time': 3}]
    """
    return _Stable(dt, f, children)


# -- arithmetic over events ------------------------------------------------------------


class _Counter(Stream):
    kind = "counter"

    def __init__(self, init: float, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.count = init

    def send(self, event: Any) -> None:
        m = event.get("metric")
        if m is None:
            self.emit(event)
            return
        if "reset" in (event.get("tags") or ()):
            self.count = m
        else:
            self.count += m
        e = dict(event)
        e["metric"] = self.count
        self.emit(e)

    def _state(self) -> Any:
        return {"count": self.count}

    def _restore(self, data: Any) -> None:
        if data:
            self.count = data["count"]


def counter(*args: Any) -> Stream:
    """Running sum of metrics; ``counter(100, ...)`` starts at 100. Events without metric
    pass unchanged; an event tagged "reset" sets the count to its metric.

    >>> from dmon.testing import run
    >>> [e.get("metric") for e in run(lambda out: counter(100, out), [{"metric": 2}, {}, {"metric": 3}])]
    [102, None, 105]
    """
    if args and is_number(args[0]):
        return _Counter(args[0], args[1:])
    return _Counter(0, args)


class _EwmaTimeless(Stream):
    kind = "ewma_timeless"

    def __init__(self, r: float, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.r = r
        self.m = 0

    def send(self, event: Any) -> None:
        x = event.get("metric")
        e = dict(event)
        if x is None:
            e.pop("metric", None)
        else:
            self.m = self.r * x + (1 - self.r) * self.m
            e["metric"] = self.m
        self.emit(e)

    def params(self) -> dict:
        return {"r": self.r}

    def _state(self) -> Any:
        return {"m": self.m}

    def _restore(self, data: Any) -> None:
        if data:
            self.m = data["m"]


def ewma_timeless(r: float, *children: Child) -> Stream:
    """Exponentially weighted moving average ignoring time: ``m = r*x + (1-r)*m`` from
    ``m = 0``; each event is passed on with ``metric = m``.

    >>> from dmon.testing import run
    >>> [e["metric"] for e in run(lambda out: ewma_timeless(0.5, out), [{"metric": 1}] * 3)]
    [0.5, 0.75, 0.875]
    """
    return _EwmaTimeless(r, children)


class _Ewma(Stream):
    kind = "ewma"

    def __init__(self, halflife: float, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.halflife = halflife
        self.r = math.exp(math.log(0.5) / halflife)
        self.m: float = 0
        self.t: float | None = None

    def send(self, event: Any) -> None:
        x = event.get("metric")
        if x is not None:
            t_new = event.get("time") or 0
            t_old = self.t if self.t is not None else t_new
            d = t_new - t_old
            c_new = 1 - self.r
            if d > 0:
                self.t, self.m = t_new, c_new * x + self.m * self.r ** d
            elif d < 0:
                self.t, self.m = t_old, self.m + c_new * x * self.r ** abs(d)
            else:
                self.t, self.m = t_old, self.m + c_new * x
            e = dict(event)
            e["metric"], e["time"] = self.m, self.t
            self.emit(e)
        else:
            self.emit(event)

    def params(self) -> dict:
        return {"halflife": self.halflife}

    def _state(self) -> Any:
        return {"m": self.m, "t": self.t}

    def _restore(self, data: Any) -> None:
        if data:
            self.m, self.t = data["m"], data["t"]


def ewma(halflife: float, *children: Child) -> Stream:
    """Exponentially weighted moving average over event time: a value's weight halves
    every ``halflife`` seconds; late events are weighted by how late they are. Events
    are passed on with ``metric`` = the average and ``time`` = the newest time seen.

    >>> from dmon.testing import run
    >>> [e["metric"] for e in run(lambda out: ewma(1, out), [{"metric": 1, "time": 0}, {"metric": 1, "time": 2}])]
    [0.5, 0.625]
    """
    return _Ewma(halflife, children)


class _DdtEvents(Stream):
    kind = "ddt"

    def __init__(self, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.prev: Any = None

    def send(self, event: Any) -> None:
        m = event.get("metric")
        if m is None:
            return
        prev, self.prev = self.prev, event
        if prev is None:
            return
        dt = event["time"] - prev["time"]
        if dt != 0:
            e = dict(event)
            e["metric"] = (m - prev["metric"]) / dt
            self.emit(e)

    def _state(self) -> Any:
        return {"prev": self.prev} if self.prev is not None else None

    def _restore(self, data: Any) -> None:
        if data:
            self.prev = data["prev"]


class _Periodic:
    """Riemann's ``periodically-until-expired``: on the first event start calling ``fn``
    every ``interval`` (after ``delay``); stop on an expired event, or once the most
    recent event's ``time + ttl`` has passed."""

    __slots__ = ("stream", "interval", "delay", "fn", "task", "expires_at", "_now")

    def __init__(self, stream: Stream, interval: float, delay: float, fn: Callable[[], Any]) -> None:
        self.stream, self.interval, self.delay, self.fn = stream, interval, delay, fn
        self._now = stream.rt.now  # the runtime never changes under a stream
        self.task: Any = None
        self.expires_at = math.inf

    def update(self, event: Any) -> None:
        if isinstance(event, dict):
            # is_expired inlined: this runs on every event of every interval stream.
            t, ttl = event.get("time"), event.get("ttl")
            if t is None:
                self.expires_at = math.inf
                dead = event.get("state") == "expired"
            else:
                self.expires_at = t + ttl if ttl is not None else math.inf
                if not (ttl.__class__ is float or ttl.__class__ is int or is_number(ttl)):
                    ttl = DEFAULT_TTL
                dead = event.get("state") == "expired" or self._now() - t > ttl
        else:
            self.expires_at, dead = math.inf, False
        if dead:
            self.stop()
        elif self.task is None:
            self.start()

    def start(self, delay: float | None = None) -> None:
        self.task = self.stream.every(self.interval, self._run, self.delay if delay is None else delay)

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    def _run(self) -> None:
        if self.expires_at < self.stream.rt.now():
            self.stop()
        else:
            self.fn()

    def state(self) -> dict:
        return {"running": self.task is not None,
                "expires_at": None if math.isinf(self.expires_at) else self.expires_at}

    def restore(self, data: Mapping[str, Any]) -> None:
        self.expires_at = data.get("expires_at") or math.inf
        if data.get("running") and self.task is None:
            self.start(self.interval)


class _DdtReal(Stream):
    kind = "ddt"

    def __init__(self, n: float, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.n = n
        self.e3: Any = None
        self.e2: Any = None
        self.periodic = _Periodic(self, n, 0, self._swap)

    def _swap(self) -> None:
        if self.e3 is not None:
            e2, e1 = self.e3, self.e2
        else:
            # No event this interval: compare the last with itself, emitting zero.
            e2, e1 = self.e2, self.e2
        self.e3, self.e2 = None, e2
        if e1 is not None and e2 is not None:
            out = dict(e2)
            dt = e2["time"] - e1["time"]
            out["time"] = self.rt.now()
            out["metric"] = 0 if dt == 0 else (e2["metric"] - e1["metric"]) / dt
            self.emit(out)

    def send(self, event: Any) -> None:
        if event.get("metric") is not None:
            self.e3 = event
        self.periodic.update(event)

    def params(self) -> dict:
        return {"interval": self.n}

    def _state(self) -> Any:
        return {"e3": self.e3, "e2": self.e2, "periodic": self.periodic.state()}

    def _restore(self, data: Any) -> None:
        if data:
            self.e3, self.e2 = data["e3"], data["e2"]
            self.periodic.restore(data["periodic"])


def ddt(*args: Any) -> Stream:
    """Derivative of the metric over time. ``ddt(...)``: for each pair of events with
    metrics, ``(m2 - m1) / (t2 - t1)`` on the later event (pairs with equal times are
    skipped). ``ddt(n, ...)``: every ``n`` seconds, the derivative between the last
    events of the two latest intervals (zero when no event came), until expired.

    >>> from dmon.testing import run
    >>> run(lambda out: ddt(out), [{"metric": 0, "time": 0}, {"metric": 2, "time": 2}])
    [{'metric': 1.0, 'time': 2}]
    """
    if args and is_number(args[0]):
        return _DdtReal(args[0], args[1:])
    return _DdtEvents(args)


class _Rate(Stream):
    kind = "rate"

    def __init__(self, interval: float, children: Sequence[Child]) -> None:
        if not interval > 0:
            raise ValueError(f"rate interval must be > 0, got {interval!r}")
        super().__init__(children)
        self.interval = interval
        self.sum: float = 0
        self.last: Any = None
        # True when `last` is an incoming event whose ttl still lacks the interval added
        # below (done at the next tick or state(), not on every event: saves a copy).
        self._raw = False
        self.periodic = _Periodic(self, interval, interval, self._tick)

    def _last(self) -> Any:
        last = self.last
        if self._raw:
            last = dict(last)
            last["ttl"] = last["ttl"] + self.interval
            self.last, self._raw = last, False
        return last

    def _tick(self) -> None:
        total, self.sum = self.sum, 0
        last = self._last()
        e = dict(last) if last is not None else {}
        e["metric"] = total / self.interval
        e["time"] = self.rt.now()
        if e.get("ttl") is not None:
            e["ttl"] = e["ttl"] - self.interval
        self.last = e
        self.emit(e)

    def send(self, event: Any) -> None:
        m = event.get("metric")
        if m is not None:
            ttl = event.get("ttl")
            # Emitted ttls decay by one interval per tick, so one is added up front (in
            # _last, lazily): under a steady flow the ttl out equals the ttl in.
            if ttl is None or ttl.__class__ is float or ttl.__class__ is int:
                self.last, self._raw = event, ttl is not None
            else:
                last = dict(event)
                last["ttl"] = ttl + self.interval  # a non-number ttl raises here, as before
                self.last, self._raw = last, False
            self.sum += m
        self.periodic.update(event)

    def params(self) -> dict:
        return {"interval": self.interval}

    def _state(self) -> Any:
        return {"sum": self.sum, "last": self._last(), "periodic": self.periodic.state()}

    def _restore(self, data: Any) -> None:
        if data:
            self.sum, self.last, self._raw = data["sum"], data["last"], False
            self.periodic.restore(data["periodic"])


def rate(interval: float, *children: Child) -> Stream:
    """Every ``interval`` seconds, send the sum of the metrics received divided by
    ``interval``, on a copy of the last event with a metric, ``time`` = now. Starts with
    the first event and stops when an expired event arrives or the last event's
    ``time + ttl`` passes; while no events come, it sends 0 with the ttl decaying by one
    interval per tick.

    >>> from dmon.testing import run_intervals
    >>> run_intervals(lambda out: rate(1, out), [{"metric": 1}, 0.5, {"metric": 1}, 0.5])
    [{'metric': 2.0, 'time': 1.0}]
    """
    return _Rate(interval, children)


# -- time partitioning helpers ---------------------------------------------------------


class _PartTimeSimple(Stream):
    """Riemann's ``part-time-simple``: wall-clock windows of ``dt`` aligned on the
    stream's creation time; the first event of a window schedules its end; an empty
    window calls nothing."""

    kind = "part_time"

    def __init__(self, dt: float, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.dt = dt
        self.anchor = self.rt.now()
        self.window = self.reset(None)
        self.scheduled = False
        self.start = self.end = 0.0

    # subclass hooks
    def reset(self, previous: Any) -> Any:
        return None

    def add(self, window: Any, event: Any) -> Any:
        return window

    def side_effects(self, window: Any, event: Any) -> None:
        pass

    def finish(self, window: Any, start: float, end: float) -> None:
        pass

    def _tick(self) -> None:
        window, start, end = self.window, self.start, self.end
        self.window = self.reset(window)
        self.scheduled = False
        self.finish(window, start, end)

    def send(self, event: Any) -> None:
        self.window = self.add(self.window, event)
        if not self.scheduled:
            now = self.rt.now()
            self.end = now + (self.dt - (now - self.anchor) % self.dt)
            self.start = self.end - self.dt
            self.scheduled = True
            self.at(self.end, self._tick)
        self.side_effects(self.window, event)

    def params(self) -> dict:
        return {"dt": self.dt}

    def native_extra(self) -> dict:
        return {"anchor": self.anchor}

    def _state(self) -> Any:
        return {"window": self.window, "scheduled": self.scheduled, "start": self.start,
                "end": self.end, "anchor": self.anchor}

    def _restore(self, data: Any) -> None:
        if data:
            self.window, self.anchor = data["window"], data["anchor"]
            self.start, self.end = data["start"], data["end"]
            self.scheduled = data["scheduled"]
            if self.scheduled:
                self.at(self.end, self._tick)


class _PartTimeFast(Stream):
    """Riemann's ``part-time-fast``: bins of ``interval`` seconds starting with the first
    event, switched by a periodic timer until expired."""

    kind = "part_time_fast"

    def __init__(self, interval: float, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.interval = interval
        self.bin: list | None = None
        self.bin_start = 0.0
        self.periodic = _Periodic(self, interval, interval, self._switch)

    def add(self, bin: list, event: Any) -> None:
        bin.append(event)

    def finish(self, bin: list, start: float, end: float) -> None:
        pass

    def _switch(self) -> None:
        if self.bin is None:
            return
        bin, start = self.bin, self.bin_start
        now = self.rt.now()
        self.bin, self.bin_start = [], now
        self.finish(bin, start, now)

    def send(self, event: Any) -> None:
        self.periodic.update(event)
        if is_expired(event, self.rt.now()):
            self.bin = None
            return
        if self.bin is None:
            self.bin, self.bin_start = [], self.rt.now()
        self.add(self.bin, event)

    def params(self) -> dict:
        return {"interval": self.interval}

    def _state(self) -> Any:
        return {"bin": self.bin, "start": self.bin_start, "periodic": self.periodic.state()}

    def _restore(self, data: Any) -> None:
        if data:
            self.bin, self.bin_start = data["bin"], data["start"]
            self.periodic.restore(data["periodic"])


class _FoldInterval(_PartTimeFast):
    kind = "fold_interval"

    def __init__(self, interval: float, key: str, folder: Callable[[list], Any],
                 children: Sequence[Child]) -> None:
        super().__init__(interval, children)
        self.key, self.folder = key, folder
        self.get = getter(key)

    def add(self, bin: list, event: Any) -> None:
        if self.get(event) is not None:
            bin.append(event)

    def finish(self, bin: list, start: float, end: float) -> None:
        values = [self.get(e) for e in bin]
        try:
            stat = self.folder(values)
        except Exception as exc:
            if bin:
                self.fail(exc, bin[-1])
            # An empty interval that the folder cannot take (max of nothing) sends nothing.
            return
        e = dict(bin[-1]) if bin else {}
        setter(e, self.key, stat)
        self.emit(e)

    def params(self) -> dict:
        return {"interval": self.interval, "field": self.key}


def fold_interval(interval: float, key: str, folder: Callable[[list], Any], *children: Child) -> Stream:
    """Every ``interval`` seconds, send the last event of the interval with ``key`` set
    to ``folder(values of key)`` over the events that had one (an empty interval sends
    ``{key: folder([])}``, or nothing if the folder cannot take an empty list).

    >>> from dmon.testing import run_intervals
    >>> run_intervals(lambda out: fold_interval(1, "metric", sum, out),
    ...     [{"metric": 2}, 0.5, {"metric": 4}, 0.6])
    [{'metric': 6}]
    """
    return _FoldInterval(interval, key, folder, children)


def fold_interval_metric(interval: float, folder: Callable[[list], Any], *children: Child) -> Stream:
    """:func:`fold_interval` over ``metric``.

    >>> from dmon.testing import run_intervals
    >>> run_intervals(lambda out: fold_interval_metric(1, max, out), [{"metric": 2}, 0.5, {"metric": 4}, 0.6])
    [{'metric': 4}]
    """
    return _FoldInterval(interval, "metric", folder, children)


class _Percentiles(_PartTimeFast):
    kind = "percentiles"

    def __init__(self, interval: float, points: Any, children: Sequence[Child]) -> None:
        super().__init__(interval, children)
        self.points = points

    def finish(self, bin: list, start: float, end: float) -> None:
        for e in folds.sorted_sample(bin, self.points):
            self.emit(e)

    def params(self) -> dict:
        pts = self.points
        return {"interval": self.interval, "points": list(pts) if not isinstance(pts, Mapping) else dict(pts)}


def percentiles(interval: float, points: Sequence[float] | Mapping[float, str], *children: Child) -> Stream:
    """Every ``interval`` seconds, send for each point (0 = lowest metric, 1 = highest,
    0.5 = median) the event at that rank among the interval's events, with
    ``" <point>"`` appended to its service (or the suffix given in a dict).

    >>> from dmon.testing import run_intervals
    >>> out = run_intervals(lambda out: percentiles(1, [0, 1], out),
    ...     [{"service": "lat", "metric": 3}, 0, {"service": "lat", "metric": 1}, 1])
    >>> [(e["service"], e["metric"]) for e in out]
    [('lat 0', 1), ('lat 1', 3)]
    """
    return _Percentiles(interval, points, children)


# -- event-count and event-time windows ------------------------------------------------


class _MovingEventWindow(Stream):
    kind = "moving_event_window"

    def __init__(self, n: int, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.n = n
        self.window: deque = deque(maxlen=n)

    def send(self, event: Any) -> None:
        if self.n > 0:
            self.window.append(event)
        self.emit(list(self.window))

    def params(self) -> dict:
        return {"n": self.n}

    def _state(self) -> Any:
        return list(self.window) or None

    def _restore(self, data: Any) -> None:
        self.window.clear()
        self.window.extend(data or ())


def moving_event_window(n: int, *children: Child) -> Stream:
    """On each event send the last ``n`` events, oldest first.

    >>> from dmon.testing import run
    >>> run(lambda out: moving_event_window(2, out), [1, 2, 3])
    [[1], [1, 2], [2, 3]]
    """
    return _MovingEventWindow(n, children)


window = moving_event_window
"""Alias of :func:`moving_event_window`."""


class _FixedEventWindow(Stream):
    kind = "fixed_event_window"

    def __init__(self, n: int, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.n = n
        self.buffer: list = []

    def send(self, event: Any) -> None:
        if self.n <= 0:
            return
        self.buffer.append(event)
        if len(self.buffer) == self.n:
            out, self.buffer = self.buffer, []
            self.emit(out)

    def params(self) -> dict:
        return {"n": self.n}

    def _state(self) -> Any:
        return list(self.buffer) or None

    def _restore(self, data: Any) -> None:
        self.buffer = list(data or ())


def fixed_event_window(n: int, *children: Child) -> Stream:
    """Send every ``n`` events as one list, oldest first.

    >>> from dmon.testing import run
    >>> run(lambda out: fixed_event_window(2, out), [1, 2, 3, 4, 5])
    [[1, 2], [3, 4]]
    """
    return _FixedEventWindow(n, children)


class _MovingTimeWindow(Stream):
    kind = "moving_time_window"

    def __init__(self, dt: float, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.dt = dt
        self.cutoff: float = 0
        self.buffer: list = []

    def send(self, event: Any) -> None:
        t = event.get("time")
        self.cutoff = max(self.cutoff, (t if t is not None else 0) - self.dt)
        if t is None or self.cutoff < t:
            c = self.cutoff
            self.buffer = [e for e in self.buffer + [event]
                           if e.get("time") is None or c < e["time"]]
            self.emit(list(self.buffer))

    def params(self) -> dict:
        return {"dt": self.dt}

    def _state(self) -> Any:
        return {"cutoff": self.cutoff, "buffer": list(self.buffer)}

    def _restore(self, data: Any) -> None:
        if data:
            self.cutoff, self.buffer = data["cutoff"], list(data["buffer"])


def moving_time_window(dt: float, *children: Child) -> Stream:
    """On each event that is not too late, send every event with time in
    ``(newest time - dt, newest time]`` (event time; late events are dropped; events
    without time stay in the window).

    >>> from dmon.testing import run
    >>> [[e["time"] for e in w] for w in run(lambda out: moving_time_window(2, out),
    ...     [{"time": 1}, {"time": 2}, {"time": 3}])]
    [[1], [1, 2], [2, 3]]
    """
    return _MovingTimeWindow(dt, children)


class _FixedTimeWindow(Stream):
    kind = "fixed_time_window"
    aligned = False

    def __init__(self, n: float, children: Sequence[Child]) -> None:
        if n == 0:
            raise ValueError("Can't have a zero-width time window.")
        super().__init__(children)
        self.n = n
        self.start: float | None = None
        self.buffer: list = []

    def send(self, event: Any) -> None:
        t = event.get("time")
        n = self.n
        if t is None:
            self.buffer.append(event)
            return
        if self.start is None:
            self.start = t - (t % n) if self.aligned else t
            self.buffer = [event]
            return
        if t < self.start:
            return  # too late: its window was already sent
        if t < self.start + n:
            self.buffer.append(event)
            return
        delta = t - self.start
        dstart = delta - (delta % n)
        empties = int(round(dstart / n)) - 1
        windows = [self.buffer] + [[] for _ in range(empties)]
        self.start += dstart
        self.buffer = [event]
        for w in windows:
            self.emit(w)

    def params(self) -> dict:
        return {"dt": self.n}

    def _state(self) -> Any:
        return {"start": self.start, "buffer": list(self.buffer)}

    def _restore(self, data: Any) -> None:
        if data:
            self.start, self.buffer = data["start"], list(data["buffer"])


class _FixedOffsetTimeWindow(_FixedTimeWindow):
    kind = "fixed_offset_time_window"
    aligned = True


def fixed_time_window(n: float, *children: Child) -> Stream:
    """Tumbling windows of ``n`` seconds of event time, the first starting at the first
    event's time. A window is sent (as a list) when an event past its end arrives;
    empty windows in a gap are sent as empty lists; late events are dropped.

    >>> from dmon.testing import run
    >>> [[e["time"] for e in w] for w in run(lambda out: fixed_time_window(2, out),
    ...     [{"time": 1}, {"time": 2}, {"time": 3}, {"time": 7}])]
    [[1, 2], [3], []]
    """
    return _FixedTimeWindow(n, children)


def fixed_offset_time_window(n: float, *children: Child) -> Stream:
    """Like :func:`fixed_time_window`, with windows aligned to multiples of ``n``.

    >>> from dmon.testing import run
    >>> [[e["time"] for e in w] for w in run(lambda out: fixed_offset_time_window(2, out),
    ...     [{"time": 1}, {"time": 2}, {"time": 3}, {"time": 4}])]
    [[1], [2, 3]]
    """
    return _FixedOffsetTimeWindow(n, children)


# -- combining several keys ------------------------------------------------------------


class _Coalesce(Stream):
    kind = "coalesce"

    def __init__(self, dt: float, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.dt = dt
        self.table: dict[tuple, Event] = {}
        self._changed: set[tuple] = set()  # keys put since the last _take_changed_state()
        self.periodic = _Periodic(self, dt, 0, self._flush)

    def _flush(self) -> None:
        now = self.rt.now()
        es = list(self.table.values())
        for e in es:
            if is_expired(e, now):
                self.table.pop((e.get("service"), e.get("host")), None)
        self.emit(es)

    def send(self, event: Any) -> None:
        k = (event.get("service"), event.get("host"))
        self.table[k] = event
        self._changed.add(k)
        self.periodic.update(event)

    def params(self) -> dict:
        return {"dt": self.dt}

    def _state(self) -> Any:
        return {"events": list(self.table.values()), "periodic": self.periodic.state()}

    def _take_changed_state(self) -> Any:
        """Only the entries put since the last call (a replication round's per-key part)."""
        changed, self._changed = self._changed, set()
        events = [e for k, e in self.table.items() if k in changed]
        return {"events": events, "periodic": self.periodic.state()} if events else None

    def _restore(self, data: Any) -> None:
        if not data:
            return
        events = {(e.get("service"), e.get("host")): e for e in data["events"]}
        if "periodic" not in data:
            # Some keys' entries (dmon.state.split_keys): merged into the table, the timer
            # kept (and started as a first event would start it).
            self.table.update(events)
            self._changed.update(events)
            for e in events.values():
                self.periodic.update(e)
            return
        self.table = events
        self._changed = set(events)
        self.periodic.restore(data["periodic"])


def coalesce(*args: Any) -> Stream:
    """Remember the latest event per (service, host) and every ``dt`` seconds (default
    1) send them all as one list; an expired event is sent once, then forgotten.

    >>> from dmon.testing import run_intervals
    >>> out = run_intervals(lambda out: coalesce(1, out), [{"host": "a"}, 0, {"host": "b"}, 0.5])
    >>> [sorted(e["host"] for e in w) for w in out]
    [['a', 'b']]
    """
    if args and is_number(args[0]):
        return _Coalesce(args[0], args[1:])
    return _Coalesce(1, args)


class _Project(Stream):
    kind = "project"

    def __init__(self, preds: Sequence[Any], children: Sequence[Child]) -> None:
        super().__init__(children)
        compiled = [_predicate(p) for p in preds]
        self.preds = [fn for fn, _ in compiled]
        self.queries = [q for _, q in compiled]
        self.slots: list = [None] * len(self.preds)

    def send(self, event: Any) -> None:
        hit = False
        for i, p in enumerate(self.preds):
            try:
                ok = p(event)
            except Exception as exc:
                self.fail(exc, event)
                return
            if ok:
                self.slots[i] = event
                hit = True
        if not hit:
            return
        now = self.rt.now()
        out = list(self.slots)
        for i, e in enumerate(self.slots):
            if e is not None and is_expired(e, now):
                # Sent once as an expired event, then the slot empties.
                out[i] = expire(e, now)
                self.slots[i] = None
        self.emit(out)

    def params(self) -> dict:
        return {"queries": [q if q is not None else "python" for q in self.queries]}

    def _state(self) -> Any:
        return list(self.slots)

    def _restore(self, data: Any) -> None:
        if data:
            self.slots = list(data)


def project(preds: Sequence[str | Mapping[str, Any] | Callable[[Event], Any]], *children: Child) -> Stream:
    """Keep the latest event matching each predicate and, whenever one matches, send the
    list of them (``None`` where none yet); an expired one is sent once (as
    ``expire(e)``) and its slot cleared.

    >>> from dmon.testing import run
    >>> from dmon import folds
    >>> run(lambda out: project(['service = "in"', 'service = "out"'], smap(folds.quotient, out)),
    ...     [{"service": "in", "metric": 10}, {"service": "out", "metric": 5}])[-1]
    {'service': 'in', 'metric': 2.0}
    """
    return _Project(preds, children)


def _cmp(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


class _Top(Stream):
    kind = "top"

    def __init__(self, k: int, f: Any, top_stream: Child, bottom_stream: Child, demote: bool) -> None:
        super().__init__([top_stream, bottom_stream])
        self.k, self.f, self.demote = k, getter(f), demote
        self.field = f if isinstance(f, str) else "python"
        self.smallest: Any = None
        self.top: dict = {}

    def _scan(self) -> Any:
        if not self.top:
            return None
        return min(self.top.items(), key=lambda kv: self.f(kv[1]))[0]

    def _update(self, event: Any) -> Any:
        """Riemann's top-update; returns the event pushed out of the top set, if any."""
        value = self.f(event)
        ekey = (event.get("host"), event.get("service"))
        top, k = self.top, self.k
        if is_expired(event, self.rt.now()) or value is None:
            top.pop(ekey, None)
            if self.smallest not in top:
                self.smallest = self._scan()
            return None
        if self.smallest is None:
            top[ekey] = event
            self.smallest = ekey
            return None
        if (ekey not in top and _cmp(value, self.f(top[self.smallest])) <= 0 and k <= len(top)):
            return None
        top[ekey] = event
        out = None
        if k < len(top):
            out = top.pop(self.smallest)
        if self.smallest not in top or _cmp(value, self.f(top[self.smallest])) < 0:
            self.smallest = self._scan()
        return out

    def send(self, event: Any) -> Any:
        top_send, bottom_send = self._sends
        now = self.rt.now()
        try:
            out = self._update(event)
            in_top = (event.get("host"), event.get("service")) in self.top
        except Exception as exc:
            self.fail(exc, event)
            return None
        if in_top and out is not None and self.demote:
            self.emit_to((top_send,), expire(out, now))
            self.emit_to((bottom_send,), out)
        # dual(): an expired event goes to both, else one side gets it and the other
        # gets it expired.
        if is_expired(event, now):
            self.emit_to((top_send, bottom_send), event)
        elif in_top:
            self.emit_to((bottom_send,), expire(event, now))
            self.emit_to((top_send,), event)
        else:
            self.emit_to((top_send,), expire(event, now))
            self.emit_to((bottom_send,), event)
        return in_top

    def params(self) -> dict:
        return {"k": self.k, "field": self.field, "demote": self.demote}

    def _state(self) -> Any:
        return {"smallest": list(self.smallest) if self.smallest is not None else None,
                "top": [[list(k), e] for k, e in self.top.items()]}

    def _restore(self, data: Any) -> None:
        if data:
            self.top = {tuple(k): e for k, e in data["top"]}
            s = data["smallest"]
            self.smallest = tuple(s) if s is not None else None


def top(k: int, f: str | Callable[[Event], Any], top_stream: Child,
        bottom_stream: Child | None = None, demote: bool | None = None) -> Stream:
    """Keep the top ``k`` events by ``f`` (one per host/service). An event in the top set
    goes to ``top_stream`` and, expired, to ``bottom_stream``; otherwise the reverse.
    Expired events go to both. With ``demote`` (default when a bottom stream is given),
    an event pushed out of the top set is sent expired to the top stream and as is to
    the bottom stream.

    >>> from dmon.testing import run
    >>> out = run(lambda out: top(1, "metric", out), [{"service": "a", "metric": 1}, {"service": "b", "metric": 2}])
    >>> [(e["service"], e.get("state")) for e in out]
    [('a', None), ('b', None)]
    """
    if bottom_stream is None:
        return _Top(k, f, top_stream, bit_bucket(), bool(demote))
    return _Top(k, f, top_stream, bottom_stream, True if demote is None else demote)


class _Dual(Stream):
    kind = "dual"

    def __init__(self, pred: Any, a: Child, b: Child) -> None:
        super().__init__([a, b])
        self.pred, self.query = _predicate(pred)

    def send(self, event: Any) -> Any:
        try:
            v = self.pred(event)
        except Exception as exc:
            self.fail(exc, event)
            return None
        a, b = self._sends
        now = self.rt.now()
        if is_expired(event, now):
            self.emit_to((a, b), event)
        elif v:
            self.emit_to((b,), expire(event, now))
            self.emit_to((a,), event)
        else:
            self.emit_to((a,), expire(event, now))
            self.emit_to((b,), event)
        return v

    def params(self) -> dict:
        return {"query": self.query} if self.query is not None else {"predicate": "python"}


def dual(pred: str | Mapping[str, Any] | Callable[[Event], Any], true_stream: Child, false_stream: Child) -> Stream:
    """When ``pred`` holds, ``true_stream`` gets the event and ``false_stream`` its expired
    copy; otherwise the reverse. Expired events go to both.

    >>> a, b = [], []
    >>> _ = dual("metric > 1", a.append, b.append).send({"host": "h", "metric": 2})
    >>> a[0]["metric"], b[0]["state"]
    (2, 'expired')
    """
    return _Dual(pred, true_stream, false_stream)


class _Throttle(_PartTimeSimple):
    kind = "throttle"

    def __init__(self, n: int, dt: float, children: Sequence[Child]) -> None:
        self.n = n
        super().__init__(dt, children)

    def reset(self, previous: Any) -> Any:
        return 0

    def add(self, window: Any, event: Any) -> Any:
        return window + 1

    def side_effects(self, window: Any, event: Any) -> None:
        if window <= self.n:
            self.emit(event)

    def params(self) -> dict:
        return {"n": self.n, "dt": self.dt}


def throttle(n: int, dt: float, *children: Child) -> Stream:
    """Pass at most ``n`` events per ``dt``-second window (clock time, windows aligned on
    the stream's creation); drop the rest. Adds no latency.

    >>> from dmon.testing import run_intervals
    >>> len(run_intervals(lambda out: throttle(2, 1, out), [{}, 0, {}, 0, {}, 1, {}]))
    3
    """
    return _Throttle(n, dt, children)


class _Rollup(_PartTimeSimple):
    kind = "rollup"

    def __init__(self, n: int, dt: float, children: Sequence[Child]) -> None:
        self.n = n
        super().__init__(dt, children)

    def reset(self, previous: Any) -> Any:
        # A buffer flushed at the end of the last window counts as one send in this one.
        if previous is None or not previous[1]:
            return [0, []]
        return [1, []]

    def add(self, window: Any, event: Any) -> Any:
        sent, buffer = window
        if sent < self.n:
            return [sent + 1, buffer]
        return [sent + 1, buffer + [event]]

    def side_effects(self, window: Any, event: Any) -> None:
        if window[0] <= self.n:
            self.emit([event])

    def finish(self, window: Any, start: float, end: float) -> None:
        if window[1]:
            self.emit(window[1])

    def params(self) -> dict:
        return {"n": self.n, "dt": self.dt}


def rollup(n: int, dt: float, *children: Child) -> Stream:
    """Call the children at most ``n`` times per ``dt`` seconds, with lists: the first
    ``n`` events of a window pass as ``[e]``, the rest are sent together at the end of
    the window (and that send counts toward the next window's ``n``).

    >>> from dmon.testing import run_intervals
    >>> run_intervals(lambda out: rollup(1, 2, out), ["a", 0, "b", 0, "c", 2])
    [['a'], ['b', 'c']]
    """
    return _Rollup(n, dt, children)


class _Batch(_PartTimeSimple):
    kind = "batch"

    def __init__(self, n: int, dt: float, children: Sequence[Child]) -> None:
        self.n = n
        super().__init__(dt, children)

    def reset(self, previous: Any) -> Any:
        return [[], None]

    def add(self, window: Any, event: Any) -> Any:
        batch = window[0] + [event]
        if len(batch) >= self.n:
            return [[], batch]
        return [batch, None]

    def side_effects(self, window: Any, event: Any) -> None:
        if window[1]:
            self.emit(window[1])

    def finish(self, window: Any, start: float, end: float) -> None:
        if window[0]:
            self.emit(window[0])

    def params(self) -> dict:
        return {"n": self.n, "dt": self.dt}


def batch(n: int, dt: float, *children: Child) -> Stream:
    """Send lists of up to ``n`` events: when ``n`` have gathered, or at the end of each
    ``dt``-second window.

    >>> from dmon.testing import run_intervals
    >>> run_intervals(lambda out: batch(2, 3, out), ["a", 1, "b", 1, "c", 2])
    [['a', 'b'], ['c']]
    """
    return _Batch(n, dt, children)


class _Apdex(_PartTimeSimple):
    kind = "apdex"

    def __init__(self, dt: float, satisfied: Any, tolerated: Any, children: Sequence[Child]) -> None:
        self.sat, self.sat_q = _predicate(satisfied)
        self.tol, self.tol_q = _predicate(tolerated)
        super().__init__(dt, children)

    def reset(self, previous: Any) -> Any:
        return {"event": None, "satisfied": 0, "tolerated": 0, "other": 0}

    def add(self, w: Any, event: Any) -> Any:
        if is_expired(event, self.rt.now()):
            return w
        try:
            k = "satisfied" if self.sat(event) else "tolerated" if self.tol(event) else "other"
        except Exception as exc:
            self.fail(exc, event)
            return w
        w = dict(w)
        w["event"] = event
        w[k] += 1
        return w

    def finish(self, w: Any, start: float, end: float) -> None:
        total = w["satisfied"] + w["tolerated"] + w["other"]
        if total:
            e = dict(w["event"])
            e["metric"] = (w["satisfied"] + w["tolerated"] / 2) / total
            self.emit(e)

    def params(self) -> dict:
        return {"dt": self.dt, "satisfied": self.sat_q or "python", "tolerated": self.tol_q or "python"}


def apdex(dt: float, satisfied: Any, tolerated: Any, *children: Child) -> Stream:
    """Every ``dt`` seconds (while events come), send the last event with metric
    ``(satisfied + tolerated / 2) / total``; expired events are ignored. The two
    predicates are query strings, dict patterns or functions.

    >>> from dmon.testing import run_intervals
    >>> out = run_intervals(lambda out: apdex(1, 'state = "ok"', 'state = "warning"', out),
    ...     [{"state": "ok"}, 0, {"state": "warning"}, 1])
    >>> out[0]["metric"]
    0.75
    """
    return _Apdex(dt, satisfied, tolerated, children)


class _FillIn(Stream):
    kind = "fill_in"

    def __init__(self, interval: float, make: Callable[[Any], Event], children: Sequence[Child]) -> None:
        super().__init__(children)
        self.interval = interval
        self.make = make
        self.last: Any = None
        self.task: Any = None

    def _fill(self) -> None:
        ok, e = self.call(self.make, self.last)
        if ok:
            e = dict(e)
            e["time"] = self.rt.now()
            self.emit(e)

    def send(self, event: Any) -> None:
        self.last = event
        dead = is_expired(event, self.rt.now())
        if self.task is not None:
            if dead:
                self.task.cancel()
                self.task = None
            else:
                self.task.defer(self.interval)
        elif not dead:
            self.task = self.every(self.interval, self._fill, self.interval)
        self.emit(event)

    def params(self) -> dict:
        return {"interval": self.interval}

    def _state(self) -> Any:
        return {"last": self.last, "running": self.task is not None}

    def _restore(self, data: Any) -> None:
        if data:
            self.last = data["last"]
            if data["running"] and self.task is None:
                self.task = self.every(self.interval, self._fill, self.interval)


def fill_in(interval: float, default_event: Event, *children: Child) -> Stream:
    """Pass every event, and whenever ``interval`` seconds pass without one, send a copy
    of ``default_event`` with ``time`` = now; stops after an expired event.

    >>> from dmon.testing import run_intervals
    >>> [e["metric"] for e in run_intervals(lambda out: fill_in(1, {"metric": 0}, out), [{"metric": 1}, 1.5])]
    [1, 0]
    """
    d = dict(default_event)
    return _FillIn(interval, lambda _last: d, children)


def fill_in_last(interval: float, update: Mapping[str, Any] | Callable[[Event], Event],
                 *children: Child) -> Stream:
    """Like :func:`fill_in`, but the filler is the last event merged with ``update`` (a
    dict), or ``update(last)`` when it is a function (Riemann's ``fill-in-last*``).

    >>> from dmon.testing import run_intervals
    >>> run_intervals(lambda out: fill_in_last(1, {"metric": 0}, out), [{"host": "a", "metric": 1}, 1.5])
    [{'host': 'a', 'metric': 1}, {'host': 'a', 'metric': 0, 'time': 1.0}]
    """
    if callable(update):
        return _FillIn(interval, update, children)
    u = dict(update)
    return _FillIn(interval, lambda last: {**last, **u}, children)


class _InterpolateConstant(Stream):
    kind = "interpolate_constant"

    def __init__(self, interval: float, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.interval = interval
        self.last: Any = None
        self.periodic = _Periodic(self, interval, 0, self._dup)

    def _dup(self) -> None:
        if self.last is not None:
            e = dict(self.last)
            e["time"] = self.rt.now()
            self.emit(e)

    def send(self, event: Any) -> None:
        self.last = event
        self.periodic.update(event)
        if is_expired(event, self.rt.now()):
            self.emit(event)
            self.last = None

    def params(self) -> dict:
        return {"interval": self.interval}

    def _state(self) -> Any:
        return {"last": self.last, "periodic": self.periodic.state()}

    def _restore(self, data: Any) -> None:
        if data:
            self.last = data["last"]
            self.periodic.restore(data["periodic"])


def interpolate_constant(interval: float, *children: Child) -> Stream:
    """Send the latest event every ``interval`` seconds (time = now, the first at the next
    tick) until an expired event arrives, which is passed on at once.

    >>> from dmon.testing import run_intervals
    >>> [e["metric"] for e in run_intervals(lambda out: interpolate_constant(1, out), [{"metric": 1}, 2.5])]
    [1, 1, 1]
    """
    return _InterpolateConstant(interval, children)


class _ClockSkew(Stream):
    kind = "clock_skew"

    def __init__(self, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.hosts: dict[Any, tuple[Event, float]] = {}

    def send(self, event: Any) -> None:
        now = self.rt.now()
        self.hosts[event.get("host")] = (event, now)
        for h, (e, _) in list(self.hosts.items()):
            if is_expired(e, now):
                del self.hosts[h]
        if is_expired(event, now):
            self.emit(event)
            return
        clocks = sorted(e["time"] + (now - seen) for e, seen in self.hosts.values()
                        if e.get("time") is not None)
        clock = clocks[len(clocks) // 2] if clocks else None
        out = dict(event)
        out["metric"] = event["time"] - clock if clock is not None else 0
        self.emit(out)

    def _state(self) -> Any:
        return [[e, seen] for e, seen in self.hosts.values()] or None

    def _restore(self, data: Any) -> None:
        self.hosts = {e.get("host"): (e, seen) for e, seen in data or ()}


def clock_skew(*children: Child) -> Stream:
    """Send each event with metric = its time minus the median of what every host's
    clock reads now (from each host's latest event): positive when it runs ahead.

    >>> from dmon.testing import run_intervals
    >>> [e["metric"] for e in run_intervals(lambda out: clock_skew(out),
    ...     [{"host": "a", "time": 1}, 1, {"host": "b", "time": 3}, 1, {"host": "c", "time": 9}])]
    [0.0, 0.0, 5.0]
    """
    return _ClockSkew(children)


class _PredictLinear(Stream):
    kind = "predict_linear"

    def __init__(self, n: int, s: float, r: float | None, children: Sequence[Child]) -> None:
        if not n > 1:
            raise ValueError(f"predict_linear needs a window of more than 1 event, got {n!r}")
        super().__init__(children)
        self.n, self.s, self.r = n, s, r
        self.window: deque = deque(maxlen=n)
        self.last_rebuild: float | None = None
        self.slope: float = 0
        self.intercept: float = 0

    def send(self, event: Any) -> None:
        self.window.append(event)
        if len(self.window) < 2:
            return
        now = self.rt.now()
        if self.r is None or self.last_rebuild is None or now - self.last_rebuild > self.r:
            xs = [e["time"] for e in self.window]
            ys = [e["metric"] for e in self.window]
            xa, ya = sum(xs) / len(xs), sum(ys) / len(ys)
            sxx = sum((x - xa) ** 2 for x in xs)
            sxy = sum((x - xa) * (y - ya) for x, y in zip(xs, ys))
            self.slope = sxy / sxx
            self.intercept = ya - self.slope * xa
            self.last_rebuild = now
        e = dict(event)
        e["metric"] = self.intercept + (event["time"] + self.s) * self.slope
        self.emit(e)

    def params(self) -> dict:
        return {"n": self.n, "s": self.s, "r": self.r}

    def _state(self) -> Any:
        return {"window": list(self.window), "last_rebuild": self.last_rebuild,
                "slope": self.slope, "intercept": self.intercept}

    def _restore(self, data: Any) -> None:
        if data:
            self.window.clear()
            self.window.extend(data["window"])
            self.last_rebuild = data["last_rebuild"]
            self.slope, self.intercept = data["slope"], data["intercept"]


def predict_linear(n: int, s: float, *args: Any) -> Stream:
    """Least-squares line over the last ``n`` events (time, metric); send the newest
    event with metric = the line's value ``s`` seconds after it. ``predict_linear(n, s,
    r, ...)`` refits at most every ``r`` seconds of clock time.

    >>> from dmon.testing import run
    >>> [e["metric"] for e in run(lambda out: predict_linear(5, 60, out),
    ...     [{"metric": m, "time": m} for m in (1, 2, 3)])]
    [62.0, 63.0]
    """
    if args and is_number(args[0]):
        return _PredictLinear(n, s, args[0], args[1:])
    return _PredictLinear(n, s, None, args)


# -- composition, exceptions, threads --------------------------------------------------


def pipe(*stages: Any) -> Any:
    """Write a chain in the order events flow: every stage but the last is a function
    of the downstream stream, the last is a stream.

    >>> from dmon.testing import run
    >>> run(lambda out: pipe(lambda down: where("metric > 1", down),
    ...                      lambda down: scale(10, down), out), [{"metric": 1}, {"metric": 2}])
    [{'metric': 20}]
    """
    if not stages:
        return bit_bucket()
    down = stages[-1]
    for stage in reversed(stages[:-1]):
        down = stage(down)
    return down


def _bind_handler(stream: Stream, handler: Callable[[BaseException, Any], None]) -> None:
    # The innermost exception_stream wins: stop where one is already bound.
    if stream._exc_handler is not None:
        return
    stream._exc_handler = handler
    for c in stream.children:
        if isinstance(c, Stream):
            _bind_handler(c, handler)
    for c in getattr(stream, "else_children", ()):
        if isinstance(c, Stream):
            _bind_handler(c, handler)


class _ExceptionStream(Stream):
    kind = "exception_stream"

    def __init__(self, handler: Child, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.handler = prime(handler)
        self._handler_send = child_send(self.handler)
        bound = self._on_exception
        self._exc_handler = None
        for c in self.children:
            if isinstance(c, Stream):
                _bind_handler(c, bound)
        self._exc_handler = bound

    def _on_exception(self, exc: BaseException, event: Any) -> None:
        import traceback
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        e: Event = {
            "time": self.rt.now(), "service": "dmon exception", "state": "error",
            "tags": ["exception", type(exc).__qualname__],
            "description": f"{type(exc).__name__}: {exc}\n\n{tb}",
        }
        if isinstance(event, dict) and event.get("host") is not None:
            e["host"] = event["host"]
        self.rt.exceptions += 1
        self._handler_send(e)

    def describe(self) -> dict:
        d = super().describe()
        d["handler"] = describe(self.handler)
        return d

    def branches(self) -> list[tuple[str, Any]]:
        return super().branches() + [("handler", self.handler)]


def exception_stream(handler: Child, *children: Child) -> Stream:
    """Send exceptions raised below this stream (in children, user functions, timers of
    streams below) to ``handler`` as events: service "dmon exception", state "error",
    tags ``["exception", <class>]``, description with the traceback.

    >>> errors = []
    >>> s = exception_stream(errors.append, smap(lambda e: 1 / 0))
    >>> s.send({"metric": 1}); errors[0]["tags"]
    ['exception', 'ZeroDivisionError']
    """
    return _ExceptionStream(handler, children)


class _ExecuteOn(Stream):
    kind = "execute_on"

    def __init__(self, name: str, maxsize: int, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.name, self.maxsize = name, maxsize
        self.worker = self.rt.worker(name, maxsize)

    def send(self, event: Any) -> bool:
        return self.worker.submit(lambda: self.emit(event))

    def params(self) -> dict:
        return {"queue": self.name, "maxsize": self.maxsize}


def execute_on(name: str, *children: Child, maxsize: int = 1000) -> Stream:
    """Hand events to the background worker ``name`` (one thread, a bounded queue) which
    runs the children; a full queue drops the event and counts it. The children then run
    on another thread than the other streams: use it for slow outputs and stateless
    streams only (Riemann's ``execute-on``/``async-queue!``).

    >>> out = []
    >>> s = execute_on("demo", out.append); s.send({"metric": 1})
    True
    >>> s.worker.join(5) and out
    [{'metric': 1}]
    """
    return _ExecuteOn(name, maxsize, children)


async_queue = execute_on
"""Alias of :func:`execute_on` (Riemann's ``async-queue!``)."""


# Fields a regroup key can be built from: string fields (core or attributes), read the same
# way by the Python stream, the native node and the router.
_NOT_KEY_FIELDS = frozenset(("time", "ttl", "metric", "tags", "attributes"))


def regroup_walk(stream: Stream, path: str | None = None) -> Any:
    """:func:`dmon.state.walk` plus the streams given to ``by`` as templates, under
    ``t<i>:<kind>`` (the i-th child of by): where regroup() streams get their addresses."""
    if path is None:
        path = stream.kind
    yield path, stream
    for label, c in stream.branches():
        if isinstance(c, Stream):
            yield from regroup_walk(c, f"{path}/{label}:{c.kind}")
    if isinstance(stream, _By):
        for i, t in enumerate(getattr(stream, "_shown", None) or ()):
            if isinstance(t, Stream):
                yield from regroup_walk(t, f"{path}/t{i}:{t.kind}")


def _key_fields(fields: Any) -> list:
    fields = [fields] if isinstance(fields, str) else list(fields)
    for f in fields:
        if not isinstance(f, str) or not f or f in _NOT_KEY_FIELDS:
            raise ValueError(
                f"regroup() builds its key from string fields (host, service, state, "
                f"description or an attribute name), got {f!r}; use [] for one owner "
                f"of everything")
    return fields


class _Regroup(Stream):
    """See :func:`regroup`. Under the server, ``rt._regroup_fn`` takes each event to the
    owner of its new key, whose instance of this stream (found by ``address``, set when the
    module is loaded) emits it there; elsewhere events go straight to the children (for
    non-empty fields, one ``by`` over the same fields)."""

    kind = "regroup"

    def __init__(self, fields: Any, children: Sequence[Child]) -> None:
        fields = _key_fields(fields)
        super().__init__(children)
        self.fields = fields
        #: "<root name>/<dmon.state path>", the same on every node that loads the module (a
        #: by() template's path continues with "t<i>:<kind>"; its forks' copies send under it
        #: and the template receives); None below a function given to by().
        self.address: str | None = None
        self._out = self.rt._regroup_fn

    def send(self, event: Any) -> None:
        # A list (from coalesce, windows) is re-keyed event by event, on every path alike.
        if isinstance(event, list):
            for e in event:
                self.send(e)
            return
        out = self._out
        if out is None:
            self.emit(event)
            return
        if self.address is None:
            raise RuntimeError(
                "regroup() built by a function given to by() (or after the module was "
                "loaded) cannot be found on the owner of the new key: give by() the stream "
                "itself, by(['host'], rate(5, regroup([], ...))), not lambda: ...")
        out(self.address, self.fields, event)

    def deliver(self, event: Any) -> None:
        """Run this stream's children on ``event``, which the owner of its new key received."""
        self.emit(event)

    def _copied(self, copy: Stream) -> None:
        # by() forks send under their template's address; the template itself receives.
        copy.address = self.address

    def params(self) -> dict:
        return {"fields": list(self.fields)}

    def native_extra(self) -> dict:
        return {"address": self.address} if self.address is not None else {}


def regroup(fields: str | Sequence[str], *children: Any, idle: float | None = None) -> Stream:
    """``by(fields, *children)`` run on the owner of each new key (``[]``: the children,
    once, on one owner of everything), so an aggregate across keys sees all of them: on a
    cluster, and on a node with several shards, a root stream sees only the keys its
    node and shard own. ``regroup(["service"], rate(1, index()))`` is one rate per service
    over every host, as Riemann's ``(by :service (rate 1 index))`` on one server;
    ``regroup([], counter(index()))`` is one count of everything.

    Fields are string fields (host, service, state, description, attribute names);
    children follow :func:`by`'s rules (a fresh copy per new key; ``idle`` forgets idle
    ones). Under dmond each event travels to the owner like a forwarded one, the client's
    ack waits until the children ran it there, and the events of one key keep their
    order. In plain Python (dmon.testing, the shell) nothing travels: it is ``by`` (or,
    for ``[]``, the children themselves). A list of events is re-keyed one by one.

    >>> from dmon.testing import run
    >>> [e["metric"] for e in run(lambda out: regroup(["service"], counter(out)),
    ...     [{"service": "a", "metric": 1}, {"service": "b", "metric": 5}, {"service": "a", "metric": 2}])]
    [1, 5, 3]
    """
    fields = _key_fields(fields)
    if fields:
        children = (by(fields, *children, idle=idle),)
    elif idle is not None:
        raise ValueError("regroup([], ...) keeps one instance of its children: idle does not apply")
    return _Regroup(fields, children)


def _mark_builtins() -> None:
    # Wrap every public constructor (aliases share the wrapper) so by() can rebuild it.
    wrapped: dict[int, Any] = {}
    g = globals()
    for name in __all__:
        obj = g[name]
        if callable(obj) and not isinstance(obj, type) and name not in ("matches", "pipe", "MISSING"):
            w = wrapped.get(id(obj))
            if w is None:
                w = wrapped[id(obj)] = builtin(obj)
            g[name] = w


_mark_builtins()
