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

In a cluster, the state that belongs to one event key ``(host, service)`` moves with that
key to its new owner (docs/cluster.md): :func:`split_keys` cuts a snapshot into one small
snapshot per key, :func:`merge` joins such slices, and :func:`import_keys` loads them into
running streams, replacing what those streams hold for the same keys. Per key is:

- a ``by`` whose fields include both ``host`` and ``service`` (``changed_state``'s, or
  ``by(["host", "service", "x"])``): each fork, with everything below it;
- ``coalesce``'s latest event per ``(host, service)`` (its timer stays with the shard);
- below a ``regroup``, everything is keyed by the regroup key, which places it where the
  regroup's events go (docs/cluster.md): each fork of a ``regroup(fields, ...)`` (its
  ``by``) by the values of ``fields`` in their order, and all the state below
  ``regroup([], ...)`` by the empty key ``()``. A snapshot names the regroups of its roots
  (``"regroups": {root: {path: fields}}``) so that :func:`split_keys` can tell. A regroup in
  a ``by`` template (``by(["host"], rate(5, regroup([], ...)))``) is one of them: the
  template is never fed, but its regroup receives what every fork's copy sends, so its
  subtree is saved under the template's path (``by/t0:rate/0:regroup/...``) like any other.

A slice's key is a tuple of values: ``(host, service)``, or a regroup key's values (one per
field). Keys hash by their values alone, so ``regroup(["host", "service"])``'s fork of a key
joins that key's slice.

Everything else (a root ``rate``, ``by(["host"])`` forks, throttles, windows over many
keys) is not a function of one key and stays with the shard's checkpoint.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterable, Iterator, Mapping

from .core import Stream

__all__ = ["VERSION", "snapshot", "restore", "dumps", "loads", "walk", "split_keys", "merge",
           "import_keys", "keyed_paths"]

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


def _state_walk(root: Stream) -> Iterator[tuple[str, Stream]]:
    """:func:`walk`, plus each ``regroup`` in a ``by`` template with everything below it,
    under the template's path (``stream/by/t0:rate/0:regroup/0:by``). A template is never
    fed itself, but its regroups receive what the forks' copies send to the owner of their
    key, and keep that state (docs/cluster.md): it is saved, restored and moved like the
    state below any other regroup."""
    from .streams import regroup_walk  # streams imports this module

    seen = set()
    for path, s in walk(root):
        seen.add(path)
        yield path, s
    for path, s in regroup_walk(root):
        if s.kind != "regroup" or path in seen:
            continue
        for p, n in walk(s, path):
            if p not in seen:
                seen.add(p)
                yield p, n


def _plain(x: Any) -> Any:
    """``x`` as it will come back from JSON (tuples become lists, ...); raises
    TypeError/ValueError when JSON cannot hold it."""
    return json.loads(json.dumps(x))


def snapshot(roots: Roots, native: Mapping[str, Any] | None = None,
             only: Iterable[tuple[str, str]] | None = None, changed: bool = False) -> dict:
    """The state of every stateful built-in stream under ``roots``, as JSON-safe data
    keyed by root name and path (see the module docstring). Streams whose state JSON
    cannot hold are left out and reported on the ``dmon.state`` logger.

    ``changed=True`` (a cluster's replication round) takes only the per-key parts changed
    since the last such call: the ``by`` forks an event or a timer ran in, the ``coalesce``
    entries put; it forgets them, so the next call has only what changed after it. Other
    streams give their whole state.

    >>> from dmon import counter
    >>> s = counter(); s.send({"metric": 2})
    >>> snapshot([("stream", s)])
    {'version': 1, 'roots': {'stream': {'counter': {'params': {}, 'state': {'count': 2}}}}}
    """
    out: dict[str, dict[str, Any]] = {}
    regroups: dict[str, dict[str, list]] = {}
    wanted = None if only is None else set(only)
    for name, root in _pairs(roots):
        if not isinstance(root, Stream):
            continue
        if wanted is not None and not any(r == name for r, _ in wanted):
            continue
        entries: dict[str, Any] = {}
        delegate = native.get(name) if native else None
        found = _regroups(root)
        for path, s in _state_walk(root):
            if path in entries or (wanted is not None and (name, path) not in wanted):
                continue
            # What is below regroup([]) is one key's state and goes whole: a part of it
            # would replace the whole on a replica.
            above = _enclosing(path, found) if changed and found else None
            whole = above is not None and not above[1]
            try:
                if delegate is not None and delegate.owns(path):
                    # Parsed from the engine's JSON already: no second round trip.
                    own = (delegate.changed(path) if changed and not whole
                           else delegate.state(path))
                    if own is None:
                        continue
                    entries[path] = {"params": _plain(s.params()), "state": own}
                    continue
                take = (getattr(s, "_take_changed_state", None) if changed and not whole
                        else None)
                own = take() if take is not None else s._state()
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
            if found:
                regroups[name] = found
    snap: dict[str, Any] = {"version": VERSION, "roots": out}
    if regroups:
        snap["regroups"] = regroups
    return snap


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
        for path, s in _state_walk(stream):
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


def _kind(path: str) -> str:
    return path.rsplit("/", 1)[-1].split(":")[-1]


def _hashable(x: Any) -> Any:
    return tuple(_hashable(v) for v in x) if isinstance(x, list) else \
        (json.dumps(x, sort_keys=True) if isinstance(x, dict) else x)


def _key_fields(path: str, entry: Mapping[str, Any]) -> tuple[int, int] | None:
    """Positions of host and service in the fork keys of a ``by`` entry keyed by both."""
    if _kind(path) != "by":
        return None
    fields = (entry.get("params") or {}).get("fields")
    if not isinstance(fields, list) or "host" not in fields or "service" not in fields:
        return None
    return fields.index("host"), fields.index("service")


def _regroups(root: Stream) -> dict[str, list]:
    """``{path: fields}`` of the regroup() streams under ``root`` (state paths)."""
    return {path: list(s.fields) for path, s in _state_walk(root) if s.kind == "regroup"}


def _enclosing(path: str, regroups: Mapping[str, list]) -> tuple[str, list] | None:
    """The nearest regroup above ``path`` (its children run on the owner of its key)."""
    best = None
    for r, fields in regroups.items():
        if path.startswith(r + "/") and (best is None or len(r) > len(best[0])):
            best = (r, fields)
    return best


def keyed_paths(roots: Roots) -> set[tuple[str, str]]:
    """``(root, path)`` of every stream whose state :func:`split_keys` cuts per key; pass it
    to :func:`snapshot` as ``only`` to save just those (what a cluster moves with its keys).

    >>> from dmon import changed_state, rate, sdo
    >>> sorted(keyed_paths([("s", sdo(changed_state(), rate(5)))]))
    [('s', 'sdo/0:by')]
    """
    out: set[tuple[str, str]] = set()
    for name, root in _pairs(roots):
        if not isinstance(root, Stream):
            continue
        regroups = _regroups(root)
        for path, s in _state_walk(root):
            # Below a regroup everything is keyed by the regroup key.
            if (_enclosing(path, regroups) is not None or _kind(path) == "coalesce"
                    or _key_fields(path, {"params": s.params()}) is not None):
                out.add((name, path))
    return out


def split_keys(snapshot: Mapping[str, Any]) -> dict[tuple[Any, Any], dict]:
    """The per-key part of ``snapshot`` (see the module docstring) as one snapshot per
    key: ``(host, service)``, or a regroup key's values (None for an absent field). Each
    holds only that key's forks or entries, under the same roots, paths and parameters, and
    restores with :func:`restore` or :func:`import_keys` into a module of the same code.

    >>> from dmon import changed_state, counter
    >>> s = changed_state(); c = counter()
    >>> for h in ("a", "b"): s.send({"host": h, "service": "x", "state": "ok"})
    >>> c.send({"metric": 1})
    >>> parts = split_keys(snapshot([("s", s), ("c", c)]))
    >>> sorted(parts)
    [('a', 'x'), ('b', 'x')]
    >>> parts[("a", "x")]["roots"]["s"]["by"]["state"]["forks"][0][0]
    ['a', 'x']
    >>> from dmon import regroup
    >>> r = regroup(["service"], counter())
    >>> for svc in ("x", "y"): r.send({"host": "h", "service": svc, "metric": 1})
    >>> sorted(split_keys(snapshot([("r", r)])))
    [('x',), ('y',)]
    """
    out: dict[tuple[Any, Any], dict] = {}

    def slot(key: tuple[Any, Any], root: str, path: str, entry: Mapping[str, Any],
             field: str) -> list:
        # Builds containers only when missing: this runs once per fork of every key.
        sl = out.get(key)
        if sl is None:
            sl = out[key] = {"version": VERSION, "roots": {}}
        entries = sl["roots"].get(root)
        if entries is None:
            entries = sl["roots"][root] = {}
        e = entries.get(path)
        if e is None:
            e = entries[path] = {"params": entry.get("params"), "state": {field: []}}
        return e["state"][field]

    all_regroups = snapshot.get("regroups") or {}
    for root, entries in (snapshot.get("roots") or {}).items():
        regroups = all_regroups.get(root) or {}
        for path, entry in entries.items():
            state = entry.get("state")
            if not isinstance(state, Mapping):
                continue
            pos = _key_fields(path, entry)
            above = _enclosing(path, regroups)
            if above is not None:
                # Below a regroup, state follows the regroup key, which places it where the
                # regroup's events go: with fields, its by (its only child) has one fork per
                # key (one field keys forks by the value itself); regroup([]) has one key,
                # (), for everything below it.
                r, fields = above
                if not fields:
                    sl = out.setdefault((), {"version": VERSION, "roots": {}})
                    sl["roots"].setdefault(root, {})[path] = {**entry, "whole": True}
                    continue
                if path != r + "/0:by":
                    continue
                for fork in state.get("forks") or ():
                    k = fork[0]
                    values = k if len(fields) > 1 else [k]
                    if not isinstance(values, list) or len(values) != len(fields):
                        continue
                    key = tuple(_hashable(v) for v in values)
                    slot(key, root, path, entry, "forks").append(fork)
            elif pos is not None:
                for fork in state.get("forks") or ():
                    k = fork[0]
                    if not isinstance(k, list) or len(k) <= max(pos):
                        continue
                    key = (_hashable(k[pos[0]]), _hashable(k[pos[1]]))
                    slot(key, root, path, entry, "forks").append(fork)
            elif _kind(path) == "coalesce":
                for e in state.get("events") or ():
                    if isinstance(e, Mapping):
                        key = (_hashable(e.get("host")), _hashable(e.get("service")))
                        slot(key, root, path, entry, "events").append(e)
    return out


def merge(slices: Iterable[Mapping[str, Any]]) -> dict:
    """Several :func:`split_keys` slices as one snapshot (forks and entries side by side;
    a key present twice keeps the later slice's; an entry a slice holds whole, as below
    ``regroup([])``, is the later slice's).

    >>> a = {"version": 1, "roots": {"s": {"by": {"params": {}, "state": {"forks": [1]}}}}}
    >>> b = {"version": 1, "roots": {"s": {"by": {"params": {}, "state": {"forks": [2]}}}}}
    >>> merge([a, b])["roots"]["s"]["by"]["state"]
    {'forks': [1, 2]}
    """
    out: dict[str, dict[str, Any]] = {}
    for sl in slices:
        for root, entries in (sl.get("roots") or {}).items():
            mine = out.setdefault(root, {})
            for path, entry in entries.items():
                state = entry.get("state") or {}
                held = mine.get(path)
                if entry.get("whole"):  # regroup([])'s children: one state, the later one
                    mine[path] = dict(entry)
                    continue
                if held is None:
                    mine[path] = {"params": entry.get("params"),
                                  "state": {f: list(v) for f, v in state.items()}}
                    continue
                for f, v in state.items():
                    held["state"].setdefault(f, []).extend(v)
    return {"version": VERSION, "roots": out}


def import_keys(roots: Roots, slices: Iterable[Mapping[str, Any]],
                native: Mapping[str, Any] | None = None) -> dict:
    """Loads :func:`split_keys` slices into running streams: each key's forks and entries
    replace what the streams hold for that key; other keys and the shard's own state stay.
    Returns :func:`restore`'s report.

    >>> from dmon import changed_state
    >>> out = []; a = changed_state(out.append)
    >>> a.send({"host": "h", "service": "s", "state": "bad"})
    >>> parts = split_keys(snapshot([("s", a)]))
    >>> b = changed_state(out.append); _ = import_keys([("s", b)], parts.values())
    >>> b.send({"host": "h", "service": "s", "state": "bad"}); len(out)
    1
    """
    return restore(roots, merge(slices), native)
