"""Riemann's folds: functions from a list of events to one event (or a few), for smap over windows."""

from __future__ import annotations

import builtins
import math
import operator
from functools import reduce
from typing import Any, Callable, Iterable, Mapping, Sequence

Event = dict

__all__ = [
    "sorted_sample_extract", "sorted_sample", "non_nil_metrics", "fold", "fold_", "fold_all",
    "sum", "sum_", "product", "product_", "difference", "difference_", "quotient", "quotient_",
    "quotient_sloppy", "mean", "median", "minimum", "maximum", "extremum", "std_dev", "count",
    "mode", "modes",
]


def sorted_sample_extract(events: Iterable[Event | None], points: Sequence[float]) -> list[Event]:
    """The events with a metric, sorted by metric, taken at each point (0 = smallest,
    1 = largest): index ``min(n - 1, floor(n * p))``.

    >>> [e["metric"] for e in sorted_sample_extract([{"metric": 3}, {"metric": 1}, {"metric": 2}], [0, 0.5, 1])]
    [1, 2, 3]
    """
    s = sorted((e for e in events if e and e.get("metric") is not None), key=lambda e: e["metric"])
    if not s:
        return []
    n = len(s)
    return [s[min(n - 1, int(math.floor(n * p)))] for p in points]


def sorted_sample(events: Iterable[Event | None], points: Sequence[float] | Mapping[float, str]) -> list[Event]:
    """Like :func:`sorted_sample_extract`, with ``" <point>"`` appended to each service
    (or, when ``points`` is a dict, its value for that point).

    >>> [e["service"] for e in sorted_sample([{"service": "lat", "metric": 1}], {0: " min", 1: " max"})]
    ['lat min', 'lat max']
    """
    if isinstance(points, Mapping):
        pts, names = list(points.keys()), list(points.values())
    else:
        pts, names = list(points), [f" {p}" for p in points]
    out = []
    for name, e in zip(names, sorted_sample_extract(events, pts)):
        e = dict(e)
        e["service"] = f"{e.get('service') or ''}{name}"
        out.append(e)
    return out


def non_nil_metrics(events: Iterable[Event | None]) -> list[Any]:
    """The metrics of the events that are not None and have one.

    >>> non_nil_metrics([{"metric": 1}, None, {}, {"metric": 2}])
    [1, 2]
    """
    return [e["metric"] for e in events if e is not None and e.get("metric") is not None]


def _with_metric(e: Event, m: Any) -> Event:
    e = dict(e)
    e["metric"] = m
    return e


def fold_(f: Callable[[Any, Any], Any], events: Sequence[Event]) -> Event:
    """Strict fold: ``f`` over every metric, on the first event; raises on a missing
    event or metric.

    >>> fold_(operator.add, [{"metric": 1}, {"metric": 2}])
    {'metric': 3}
    """
    events = list(events)
    return _with_metric(events[0], reduce(f, (e["metric"] for e in events)))


def fold(f: Callable[[Any, Any], Any], events: Iterable[Event | None]) -> Event | None:
    """Fold ``f`` over the metrics present, on the first non-None event; None when there
    is no event.

    >>> fold(operator.mul, [None, {"metric": 2}, {}, {"metric": 3}])
    {'metric': 6}
    """
    events = list(events)
    first = next((e for e in events if e is not None), None)
    if first is None:
        return None
    return _with_metric(first, reduce(f, non_nil_metrics(events)))


def fold_all(f: Callable[[Any, Any], Any], events: Sequence[Event | None]) -> Event | None:
    """Fold ``f`` over all metrics, on the first event; when any event or metric is
    missing, the first event with ``metric`` None and a description saying so.

    >>> fold_all(operator.sub, [{"metric": 5}, {}])
    {'description': 'An event or metric was nil.'}
    """
    events = list(events)
    if not events or events[0] is None:
        return None
    e = events[0]
    if any(x is None or x.get("metric") is None for x in events):
        out = dict(e)
        out.pop("metric", None)
        out["description"] = "An event or metric was nil."
        return out
    return _with_metric(e, reduce(f, (x["metric"] for x in events)))


def sum_(events: Sequence[Event]) -> Event:
    """Strict sum of metrics on the first event (raises on a missing metric).

    >>> sum_([{"metric": 1}, {"metric": 2}])
    {'metric': 3}
    """
    return fold_(operator.add, events)


def sum(events: Iterable[Event | None]) -> Event | None:
    """Sum of the metrics present, on the first event; None for no events.

    >>> sum([{"host": "a", "metric": 1}, {"metric": 2}, {}])
    {'host': 'a', 'metric': 3}
    """
    return fold(operator.add, events)


def product_(events: Sequence[Event]) -> Event:
    """Strict product of metrics on the first event.

    >>> product_([{"metric": 2}, {"metric": 3}])
    {'metric': 6}
    """
    return fold_(operator.mul, events)


def product(events: Iterable[Event | None]) -> Event | None:
    """Product of the metrics present, on the first event.

    >>> product([{"metric": 2}, {}, {"metric": 3}])
    {'metric': 6}
    """
    return fold(operator.mul, events)


def difference_(events: Sequence[Event]) -> Event:
    """Strict: first metric minus the others.

    >>> difference_([{"metric": 5}, {"metric": 3}])
    {'metric': 2}
    """
    return fold_(operator.sub, events)


def difference(events: Sequence[Event | None]) -> Event | None:
    """First metric minus the others; a missing metric gives ``metric`` None and a
    description (see :func:`fold_all`).

    >>> difference([{"metric": 5}, {"metric": 3}, {"metric": 1}])
    {'metric': 1}
    """
    return fold_all(operator.sub, events)


def _div(a: Any, b: Any) -> Any:
    return a / b


def quotient_(events: Sequence[Event]) -> Event:
    """Strict: first metric divided by the others (raises on zero or a missing metric).

    >>> quotient_([{"metric": 6}, {"metric": 3}])
    {'metric': 2.0}
    """
    return fold_(_div, events)


def quotient(events: Sequence[Event | None]) -> Event | None:
    """First metric divided by the others; dividing by zero gives ``metric`` None and
    description "Can't divide by zero".

    >>> quotient([{"metric": 1}, {"metric": 0}])
    {'description': "Can't divide by zero"}
    """
    events = list(events)
    if not events or events[0] is None:
        return None
    try:
        return fold_all(_div, events)
    except ZeroDivisionError:
        out = dict(events[0])
        out.pop("metric", None)
        out["description"] = "Can't divide by zero"
        return out


def quotient_sloppy(events: Sequence[Event | None]) -> Event | None:
    """Like :func:`quotient`, but 0 when any metric is 0 (so 0/0 = 0).

    >>> quotient_sloppy([{"metric": 0}, {"metric": 0}])
    {'metric': 0}
    """
    events = list(events)
    if events and events[0] is not None and any(e is not None and e.get("metric") == 0 for e in events):
        return _with_metric(events[0], 0)
    return quotient(events)


def mean(events: Iterable[Event | None]) -> Event | None:
    """Mean of the metrics present, on the first event.

    >>> mean([{"metric": 2}, {"metric": 4}, {}, {"metric": 6}])
    {'metric': 4.0}
    """
    events = list(events)
    first = next((e for e in events if e is not None), None)
    if first is None:
        return None
    ms = non_nil_metrics(events)
    if not ms:
        return None
    return _with_metric(first, builtins.sum(ms) / len(ms))


def modes(events: Iterable[Event | None]) -> list[Event]:
    """One event for each of the most frequent metrics (first seen first).

    >>> [e["metric"] for e in modes([{"metric": 1}, {"metric": 2}, {"metric": 1}, {"metric": 2}, {"metric": 3}])]
    [1, 2]
    """
    seen: dict[Any, list[Event]] = {}
    for e in events:
        if e is None:
            continue
        seen.setdefault(e.get("metric"), []).append(e)
    if not seen:
        return []
    top = max(len(v) for v in seen.values())
    return [v[0] for v in seen.values() if len(v) == top]


def mode(events: Iterable[Event | None]) -> Event | None:
    """An event with the most frequent metric.

    >>> mode([{"metric": 1}, {"metric": 2}, {"metric": 2}])
    {'metric': 2}
    """
    m = modes(events)
    return m[0] if m else None


def median(events: Iterable[Event | None]) -> Event | None:
    """The median event by metric (``sorted_sample_extract(events, [0.5])``).

    >>> median([{"metric": 3}, {"metric": 1}, {"metric": 2}])
    {'metric': 2}
    """
    s = sorted_sample_extract(events, [0.5])
    return s[0] if s else None


def extremum(better: Callable[[Any, Any], bool], events: Iterable[Event | None]) -> Event | None:
    """The event whose metric wins ``better(metric, best)``; events without metric are
    skipped; ties go to the later event when ``better`` is ``<=``/``>=``.

    >>> extremum(operator.ge, [{"metric": 1}, {"metric": 5}, {}])
    {'metric': 5}
    """
    best = None
    for e in events:
        if e is None or e.get("metric") is None:
            continue
        if best is None or better(e["metric"], best["metric"]):
            best = e
    return best


def minimum(events: Iterable[Event | None]) -> Event | None:
    """The event with the smallest metric.

    >>> minimum([{"metric": 3}, {"metric": 1}])
    {'metric': 1}
    """
    return extremum(operator.le, events)


def maximum(events: Iterable[Event | None]) -> Event | None:
    """The event with the largest metric.

    >>> maximum([{"metric": 3}, {"metric": 1}])
    {'metric': 3}
    """
    return extremum(operator.ge, events)


def std_dev(events: Iterable[Event | None]) -> Event | None:
    """Population standard deviation of the metrics present, on the first event.

    >>> round(std_dev([{"metric": m} for m in (600, 470, 170, 430, 300)])["metric"], 3)
    147.323
    """
    events = list(events)
    first = next((e for e in events if e is not None), None)
    if first is None:
        return None
    xs = non_nil_metrics(events)
    mu = builtins.sum(xs) / len(xs)
    return _with_metric(first, math.sqrt(builtins.sum((x - mu) ** 2 for x in xs) / len(xs)))


def count(events: Iterable[Event | None]) -> Event:
    """The first event with ``metric`` = the number of (non-None) events; ``{"metric": 0}``
    for none.

    >>> count([{"host": "a"}, None, {"host": "b"}]), count([])
    ({'host': 'a', 'metric': 2}, {'metric': 0})
    """
    es = [e for e in events if e is not None]
    if not es:
        return {"metric": 0}
    return _with_metric(es[0], len(es))
