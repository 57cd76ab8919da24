"""Event helpers shared by streams, folds, outputs and the runtime: field access, expiry, normalisation."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

Event = dict
"""An event is a plain dict with Riemann's keys; absent keys are absent."""

CORE_KEYS = frozenset(
    ("host", "service", "state", "description", "time", "ttl", "metric", "tags", "attributes")
)

DEFAULT_TTL = 60.0
"""Seconds an event without ``ttl`` stays valid (Riemann's ``index/default-ttl``)."""


def field(event: Mapping[str, Any], name: str) -> Any:
    """Return a field of ``event``: a core key, or else a custom attribute of that name.

    Riemann keeps custom attributes as top-level keys; dmon nests them under
    ``attributes``, so lookups by name see both places.

    >>> field({"host": "a", "attributes": {"env": "prod"}}, "env")
    'prod'
    >>> field({"host": "a"}, "service") is None
    True
    """
    value = event.get(name)
    if value is None and name not in CORE_KEYS:
        attrs = event.get("attributes")
        if attrs:
            return attrs.get(name)
    return value


def getter(f: str | Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Turn a field name or a function of an event into a function of an event.

    Riemann passes keywords (``:state``) where dmon takes field names (``"state"``).

    >>> getter("state")({"state": "ok"})
    'ok'
    >>> getter(len)([1, 2])
    2
    """
    if isinstance(f, str):
        name = f
        if name in CORE_KEYS:
            return lambda e: e.get(name)
        return lambda e: field(e, name)
    if callable(f):
        return f
    raise TypeError(f"expected a field name or a function of an event, got {f!r}")


def setter(event: Event, name: str, value: Any) -> None:
    """Set ``name`` on ``event`` in place (a copy the caller owns): core keys at the top,
    anything else as a string attribute; ``None`` removes the key.

    >>> e = {}; setter(e, "env", 1); setter(e, "state", "ok"); e
    {'attributes': {'env': '1'}, 'state': 'ok'}
    """
    if name in CORE_KEYS:
        if value is None:
            event.pop(name, None)
        else:
            event[name] = value
        return
    attrs = dict(event.get("attributes") or ())
    if value is None:
        attrs.pop(name, None)
        event.pop(name, None)
    else:
        attrs[name] = value if isinstance(value, str) else str(value)
    if attrs:
        event["attributes"] = attrs
    else:
        event.pop("attributes", None)


def is_number(x: Any) -> bool:
    """True for ints and floats, not for bools (Riemann's ``number?``).

    >>> is_number(1), is_number(2.5), is_number(True), is_number("1")
    (True, True, False, False)
    """
    return (type(x) is int or type(x) is float) or (
        isinstance(x, (int, float)) and not isinstance(x, bool)
    )


def is_expired(event: Mapping[str, Any], now: float) -> bool:
    """Riemann's ``expired?``: state "expired", or ``now - time > (ttl or 60)``.

    >>> is_expired({"state": "expired"}, 0)
    True
    >>> is_expired({"time": 0, "ttl": 10}, 10), is_expired({"time": 0, "ttl": 10}, 10.5)
    (False, True)
    >>> is_expired({"time": 0}, 61), is_expired({}, 1e12)
    (True, False)
    """
    if event.get("state") == "expired":
        return True
    t = event.get("time")
    if t is None:
        return False
    ttl = event.get("ttl")
    if not is_number(ttl):
        ttl = DEFAULT_TTL
    return now - t > ttl


def expire(event: Mapping[str, Any], now: float) -> Event:
    """An expired version of an event: its host and service, ``time=now``, ``state="expired"``.

    >>> expire({"host": "a", "service": "b", "metric": 1}, 5.0)
    {'host': 'a', 'service': 'b', 'time': 5.0, 'state': 'expired'}
    """
    out: Event = {}
    if "host" in event:
        out["host"] = event["host"]
    if "service" in event:
        out["service"] = event["service"]
    out["time"] = now
    out["state"] = "expired"
    return out


def normalize(event: Mapping[str, Any]) -> Event:
    """A copy of ``event`` in the server's shape: unknown top-level keys become string
    attributes, ``None`` values are dropped.

    >>> normalize({"host": "a", "env": "prod", "state": None})
    {'host': 'a', 'attributes': {'env': 'prod'}}
    """
    out: Event = {}
    extra: dict[str, str] = {}
    for k, v in event.items():
        if v is None:
            continue
        if k in CORE_KEYS:
            out[k] = v
        else:
            extra[k] = v if isinstance(v, str) else str(v)
    if extra:
        attrs = dict(out.get("attributes") or ())
        attrs.update(extra)
        out["attributes"] = attrs
    return out


def flatten(items: Any) -> list:
    """Flatten nested lists/tuples into one list; a string stays one item (Riemann's
    ``(flatten [x])`` idiom for "a tag or a list of tags").

    >>> flatten("a"), flatten(["a", ["b", ("c",)]])
    (['a'], ['a', 'b', 'c'])
    """
    if isinstance(items, (list, tuple)):
        out: list = []
        for x in items:
            out.extend(flatten(x))
        return out
    return [items]


def event(**fields: Any) -> Event:
    """Build an event from keyword arguments, dropping ``None`` and moving unknown keys
    into attributes.

    >>> event(host="web-1", service="cpu", metric=0.5, env="prod")
    {'host': 'web-1', 'service': 'cpu', 'metric': 0.5, 'attributes': {'env': 'prod'}}
    """
    return normalize(fields)


def events_in(x: Any) -> Iterable[Event]:
    """The events in ``x``: itself if it is one event, else its items.

    >>> list(events_in({"a": 1})), list(events_in([{"a": 1}, {"b": 2}]))
    ([{'a': 1}], [{'a': 1}, {'b': 2}])
    """
    if isinstance(x, Mapping):
        return (x,)
    return x
