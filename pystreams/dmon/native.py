"""What the server's native engine runs: descriptions of stream graphs for its C++ compiler.

dmond runs a root stream made only of built-ins in C++ (no GIL, no dicts) and the rest
here. ``plan(stream)`` is the description it compiles: :func:`dmon.describe` plus what
rebuilding a stream exactly needs (``native_extra``), with two rules:

- anything that is not one of dmon's own built-in classes (your functions, generators,
  subclasses, streams under ``exception_stream``) shows as ``{"stream": "python"}`` and keeps
  its root in Python;
- a ``where`` with a Python predicate (a function or a dict pattern) runs natively with its
  children, calling that one function with the event as a dict (``plan_refs``);
- a function given to ``by`` as a child (``by(["host"], lambda: rate(5, index()))``) is
  called twice, now, and what it returns is described: when that is built-ins only, the
  same graph both times, with no stateful stream shared between the two, every key gets
  a native copy of it;
- a stateful built-in used in two places of a graph (one ``rate`` object under two
  parents) shares its state in Python, so it shows as Python too.

>>> from dmon import where, by, rate, index
>>> plan(where('service = "a"', by(["host"], lambda: rate(5, index()))))["children"][0]["children"]
[{'stream': 'factory', 'children': [{'stream': 'rate', 'interval': 5, 'children': [{'stream': 'index'}]}]}]
"""

from __future__ import annotations

import json
from typing import Any

from . import core

__all__ = ["plan", "plan_json", "plan_refs"]


def plan(stream: Any) -> dict:
    """The description of ``stream``'s graph the native compiler reads (see the module)."""
    previous, seen = core._plan_mode, core._plan_seen
    core._plan_mode, core._plan_seen = True, {}
    try:
        return core.describe(stream)
    finally:
        core._plan_mode, core._plan_seen = previous, seen


def _opaque(x: Any) -> Any:
    # A parameter JSON cannot hold: the compiler sees an object and refuses the node.
    return {"python": repr(x)}


def plan_json(stream: Any) -> str:
    """:func:`plan` as JSON text; values JSON cannot hold become ``{"python": repr}``."""
    return json.dumps(plan(stream), default=_opaque, allow_nan=False)


def plan_refs(stream: Any) -> tuple[str, list]:
    """:func:`plan_json` plus the streams whose Python predicates the native graph calls:
    a where with a function shows ``"ref": N``, the N-th stream of the list."""
    previous = core._plan_refs
    core._plan_refs = []
    try:
        return plan_json(stream), core._plan_refs
    finally:
        core._plan_refs = previous
