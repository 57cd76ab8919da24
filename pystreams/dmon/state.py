"""Checkpoints of stream state: ``snapshot(roots)`` as plain JSON data keyed by root name and
path, ``restore(roots, snapshot)`` after a restart or a reload, restoring what still matches.

The server calls these to keep ``changed``, ``rate``, ``by``, windows and throttles going
across restarts (Riemann loses them: #743)::

    snap = dmon.state.snapshot(rt.roots)            # periodically and on shutdown
    text = dmon.state.dumps(snap)                   # -> RocksDB "state" family
    ...
    report = dmon.state.restore(rt.roots, dmon.state.loads(text))   # after load()
    # report["dropped"]: what no longer matched the module's code, with reasons

A snapshot looks like::

    {"version": 1,
     "roots": {"alert_stream": {"sdo/0:by": {"params": {"fields": ["host", "service"]},
                                             "state": {"forks": [...]}},
                                "sdo/1:rate": {"params": {"interval": 5},
                                               "state": {"sum": 3, ...}}}}}

A path is the root's kind, then one ``label:kind`` per step down: the label is the
child's position (``0``, ``1``, ...) or ``else.N`` (``where``'s else branch) or
``handler`` (``exception_stream``'s). Only built-in streams that keep state appear;
your own generators and functions are not saved. An entry is restored when the live
module has a stream of the same kind at the same path with the same parameters;
anything else is dropped and said so, so a module whose code changed keeps what it can.

Roots that the server runs natively (see :mod:`dmon.native`) keep their state in C++;
``snapshot`` and ``restore`` take ``native={root name: delegate}`` whose ``state(path)``
and ``restore(path, data)`` stand in for the Python stream's ``_state``/``_restore`` where
``owns(path)`` (parts of such a root that still run in Python keep their state there). The
paths, parameters and state shapes are the same, so a checkpoint written by either path
restores into the other.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterable, Iterator, Mapping

from .core import Stream

__all__ = ["VERSION", "snapshot", "restore", "dumps", "loads", "walk"]

log = logging.getLogger("dmon.state")

VERSION = 1
"""The snapshot format version; restore() drops snapshots of another version."""

Roots = Any
"""``[(name, stream), ...]`` (what :func:`dmon.loader.load` returns, ``rt.roots``), a
``{name: stream}`` mapping, or a :class:`dmon.runtime.Runtime` (its ``roots``)."""


def _pairs(roots: Roots) -> list[tuple[str, Any]]:
    if hasattr(roots, "roots") and not isinstance(roots, Mapping):
        roots = roots.roots
    if isinstance(roots, Mapping):
        return list(roots.items())
    return [(name, s) for name, s in roots]


def walk(stream: Stream, path: str | None = None) -> Iterator[tuple[str, Stream]]:
    """Every built-in stream of the graph under ``stream`` with its path, depth first.

    >>> from dmon import where, rate, counter
    >>> [p for p, _ in walk(where("metric > 1", rate(5), else_=counter()))]
    ['where', 'where/0:rate', 'where/else.0:counter']
    """
    if path is None:
        path = stream.kind
    yield path, stream
    for label, c in stream.branches():
        if isinstance(c, Stream):
            yield from walk(c, f"{path}/{label}:{c.kind}")


def _plain(x: Any) -> Any:
    """``x`` as it will come back from JSON (tuples become lists, ...); raises
    TypeError/ValueError when JSON cannot hold it."""
    return json.loads(json.dumps(x))


def snapshot(roots: Roots, native: Mapping[str, Any] | None = None) -> dict:
    """The state of every stateful built-in stream under ``roots``, as JSON-safe data
    keyed by root name and path (see the module docstring). Streams whose state JSON
    cannot hold are left out and reported on the ``dmon.state`` logger.

    >>> from dmon import counter
    >>> s = counter(); s.send({"metric": 2})
    >>> snapshot([("stream", s)])
    {'version': 1, 'roots': {'stream': {'counter': {'params': {}, 'state': {'count': 2}}}}}
    """
    out: dict[str, dict[str, Any]] = {}
    for name, root in _pairs(roots):
        if not isinstance(root, Stream):
            continue
        entries: dict[str, Any] = {}
        delegate = native.get(name) if native else None
        for path, s in walk(root):
            if path in entries:
                continue
            try:
                own = (delegate.state(path) if delegate is not None and delegate.owns(path)
                       else s._state())
                if own is None:
                    continue
                entries[path] = _plain({"params": s.params(), "state": own})
            except (TypeError, ValueError) as exc:
                log.warning("dmon state: not saving %s %s: its state is not JSON data (%s)",
                            name, path, exc)
            except Exception as exc:
                s.rt.report_exception(f"state of {name} {path}", None, exc)
        if entries:
            out[name] = entries
    return {"version": VERSION, "roots": out}


def restore(roots: Roots, snapshot: Mapping[str, Any] | None,
            native: Mapping[str, Any] | None = None) -> dict:
    """Load ``snapshot`` into the streams under ``roots`` (freshly loaded, before any
    event). Returns ``{"restored": ["root path", ...], "dropped": [{"root", "path",
    "reason"}, ...]}``; every dropped entry is also logged on ``dmon.state``.

    >>> from dmon import counter
    >>> a = counter(); a.send({"metric": 2}); snap = snapshot([("stream", a)])
    >>> out = []; b = counter(out.append); restore([("stream", b)], snap)["restored"]
    ['stream counter']
    >>> b.send({"metric": 1}); out
    [{'metric': 3}]
    """
    report: dict[str, list] = {"restored": [], "dropped": []}
    if not snapshot:
        return report

    def drop(root: str, path: str, reason: str) -> None:
        report["dropped"].append({"root": root, "path": path, "reason": reason})
        log.warning("dmon state: dropping saved state of %s %s: %s", root, path, reason)

    saved = snapshot.get("roots") or {}
    if snapshot.get("version") != VERSION:
        for root, entries in saved.items():
            for path in entries:
                drop(root, path, f"snapshot version {snapshot.get('version')!r}, "
                                  f"this dmon reads version {VERSION}")
        return report
    live = dict(_pairs(roots))
    for root, entries in saved.items():
        stream = live.get(root)
        if not isinstance(stream, Stream):
            why = ("the module has no root stream of that name any more" if stream is None
                   else "the root is not a built-in stream any more")
            for path in entries:
                drop(root, path, why)
            continue
        delegate = native.get(root) if native else None
        nodes: dict[str, Stream] = {}
        for path, s in walk(stream):
            nodes.setdefault(path, s)
        for path, entry in entries.items():
            s = nodes.get(path)
            if s is None:
                drop(root, path, "no stream of that kind at that place in the module any more")
                continue
            try:
                params = _plain(s.params())
            except (TypeError, ValueError):
                params = None
            if params != entry.get("params"):
                drop(root, path, f"parameters changed from {entry.get('params')} to {params}")
                continue
            try:
                if delegate is not None and delegate.owns(path):
                    delegate.restore(path, entry.get("state"))
                else:
                    s._restore(entry.get("state"))
            except Exception as exc:
                drop(root, path, f"restoring raised {type(exc).__name__}: {exc}")
                continue
            report["restored"].append(f"{root} {path}")
    return report


def dumps(snapshot: Mapping[str, Any]) -> str:
    """A snapshot as compact JSON text (for the server to store).

    >>> dumps({"version": 1, "roots": {}})
    '{"roots":{},"version":1}'
    """
    return json.dumps(snapshot, separators=(",", ":"), sort_keys=True)


def loads(text: str | bytes) -> dict:
    """A snapshot back from :func:`dumps` text."""
    return json.loads(text)
