"""The base of every built-in stream: children, safe emission, describe(), state() and restore()."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterable

from .runtime import Runtime, current

__all__ = ["Stream", "Child", "describe", "prime", "child_send"]

Child = Any
"""A child stream: a built-in stream, a primed generator, or any object with ``send``;
a plain function of one event also works (Riemann's ``prn`` as a child)."""


def prime(obj: Any) -> Any:
    """Start a generator that was never started, so it can take ``send(event)``.

    >>> def g():
    ...     while True:
    ...         print((yield))
    >>> prime(g()).send("hi")
    hi
    """
    if inspect.isgenerator(obj) and inspect.getgeneratorstate(obj) == inspect.GEN_CREATED:
        next(obj)
    return obj


def child_send(child: Child) -> Callable[[Any], Any]:
    """The function that delivers an event to ``child``."""
    send = getattr(child, "send", None)
    if send is not None and callable(send):
        return send
    if callable(child):
        return child
    raise TypeError(
        f"a child stream must have a send() method or be a function of one event, got {child!r}")


_plan_mode = False
"""True while dmon.native.plan describes a graph for the native engine: built-ins then add
what the C++ compiler needs beyond their parameters (native_extra), by() calls its stream
factories once, and anything that is not one of dmon's own classes shows as Python."""


_plan_seen: dict | None = None
"""While planning: stateful built-ins already described, by id (a stream object used in two
places shares its state in Python; native copies would not, so it shows as Python)."""

_plan_refs: list | None = None
"""While planning: the streams whose Python functions the native graph calls (by number)."""


def plan_ref(fn: Callable[[Any], Any], owner: "Stream") -> int | None:
    """While planning with references, the number under which the native engine finds a
    Python predicate ``fn`` of ``owner`` (a where, split or match): it calls ``fn(event)``
    and reports what it raises through ``owner.fail``. None when not planning."""
    if _plan_refs is None:
        return None
    _plan_refs.append((fn, owner))
    return len(_plan_refs) - 1


# Kinds that never schedule a timer: a Python subtree made only of these (and of outputs,
# functions and generators) can be called from a native graph without changing the order
# in which timers fire within a tick.
_TIMER_FREE = frozenset((
    "where", "match", "split", "splitp", "sdo", "smap", "smap*", "smapcat", "sflatten",
    "sreduce", "with", "default", "adjust", "scale", "tag", "untag", "tagged_all",
    "tagged_any", "over", "under", "expired", "not_expired", "changed", "runs", "counter",
    "ewma_timeless", "moving_event_window", "fixed_event_window", "index", "publish", "store",
    "append", "register", "dual", "project", "top"))


def _leafable(child: Any) -> bool:
    """Whether ``child`` can run in Python below a native graph: an output, your function or
    generator, or a dmon stream whose whole graph is timer-free and shares no stateful
    stream with what was already compiled natively."""
    from .outputs import Output
    if not isinstance(child, Stream):
        return True
    stack = [child]
    while stack:
        s = stack.pop()
        if isinstance(s, Output):
            continue
        if type(s).__module__ != "dmon.streams" or s.kind not in _TIMER_FREE:
            return False
        if _plan_seen is not None and id(s) in _plan_seen:
            return False
        stack.extend(c for _, c in s.branches() if isinstance(c, Stream))
    return True


def describe_child(child: Child, parent: "Stream") -> dict:
    """:func:`describe` of a child; while planning with references, a child that can run in
    Python below a native graph also gets ``"leaf": N`` (refs[N] is ``(child, parent)``:
    the native graph calls ``child`` and reports what it raises through ``parent.fail``)."""
    leaf = _plan_refs is not None and _leafable(child)
    d = describe(child)
    if leaf:
        assert _plan_refs is not None
        _plan_refs.append((child, parent))
        d = dict(d, leaf=len(_plan_refs) - 1)
    return d


def describe(child: Child) -> dict:
    """A plain-dict description of a stream graph; anything that is not a built-in shows
    as ``{"stream": "python"}`` (the server runs graphs of built-ins natively).

    >>> from dmon import where, index
    >>> describe(where('service = "cpu"', index()))
    {'stream': 'where', 'query': 'service = "cpu"', 'children': [{'stream': 'index'}], 'else': []}
    """
    d = getattr(child, "describe", None)
    if d is not None and isinstance(child, Stream):
        if _plan_mode:
            if type(child).__module__ != "dmon.streams" or child._exc_handler is not None:
                return {"stream": "python"}
            if _plan_seen is not None and type(child)._state is not Stream._state:
                if id(child) in _plan_seen:
                    return {"stream": "python", "shared": True}
                _plan_seen[id(child)] = child
        return d()
    return {"stream": "python"}


class Stream:
    """Base of the built-in streams. A stream takes events with :meth:`send` and passes
    results to its children with :meth:`emit`, catching and reporting what a child
    raises so one failing child never stops the others (Riemann's ``call-rescue``).

    Subclasses set ``kind`` (the name in :meth:`describe`), implement ``send`` and,
    when they keep state, ``_state``/``_restore``. The runtime is looked up once, at
    construction, so ``send`` never pays for it.
    """

    kind = "stream"
    #: set by exception_stream on every stream below it
    _exc_handler: Any = None

    def __init__(self, children: Iterable[Child] = ()) -> None:
        self.rt: Runtime = current()
        self.children: tuple = tuple(prime(c) for c in children)
        self._sends: tuple = tuple(child_send(c) for c in self.children)
        self._timers: list = []
        # The only child's send, for hot paths that inline emit (None with 0 or 2+ children).
        self._send1: Any = self._sends[0] if len(self._sends) == 1 else None
        if len(self._sends) == 1:
            # The common chain has one child: skip the loop (emit runs on every event).
            self.emit = self._emit_one  # type: ignore[method-assign]

    # -- the coroutine protocol --------------------------------------------------------

    def send(self, event: Any) -> Any:
        """Take one event (or a list of events, for streams that take windows)."""
        self.emit(event)

    def __call__(self, event: Any) -> Any:
        return self.send(event)

    def close(self) -> None:
        """Cancel this stream's timers and close the streams below it."""
        for t in self._timers:
            t.cancel()
        self._timers.clear()
        for c in self.children:
            if isinstance(c, Stream):
                c.close()

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        """Coroutine protocol: raise the given exception here (built-ins keep no frame)."""
        if val is None:
            val = typ() if isinstance(typ, type) else typ
        raise val

    # -- emission ----------------------------------------------------------------------

    def emit(self, event: Any) -> None:
        """Send ``event`` to every child; a child that raises is reported, the next still runs."""
        for send in self._sends:
            try:
                send(event)
            except Exception as exc:
                self.fail(exc, event)

    def _emit_one(self, event: Any) -> None:
        try:
            self._sends[0](event)
        except Exception as exc:
            self.fail(exc, event)

    def emit_to(self, sends: tuple, event: Any) -> None:
        """Like :meth:`emit`, to a chosen subset of children (else branches, split clauses)."""
        for send in sends:
            try:
                send(event)
            except Exception as exc:
                self.fail(exc, event)

    def fail(self, exc: BaseException, event: Any) -> None:
        """Report an exception raised by a child or a user function on ``event``."""
        handler = self._exc_handler
        if handler is not None:
            try:
                handler(exc, event)
                return
            except Exception as exc2:
                exc = exc2
        self.rt.report_exception(self.kind, event if isinstance(event, dict) else None, exc)

    def call(self, fn: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
        """Call a user function, reporting an exception instead of raising: (ok, result)."""
        try:
            return True, fn(*args)
        except Exception as exc:
            self.fail(exc, args[0] if args else None)
            return False, None

    # -- timers ------------------------------------------------------------------------

    def every(self, interval: float, fn: Callable[[], Any], delay: float | None = None) -> Any:
        """A runtime timer owned by this stream (cancelled by :meth:`close`)."""
        t = self.rt.every(interval, fn, delay, name=self.kind)
        self._timers.append(t)
        return t

    def at(self, when: float, fn: Callable[[], Any]) -> Any:
        """A one-shot runtime timer owned by this stream."""
        t = self.rt.at(when, fn, name=self.kind)
        self._timers.append(t)
        if len(self._timers) > 64:
            self._timers = [x for x in self._timers if not x.cancelled and
                            (x.interval is not None or x.due >= self.rt.now())]
        return t

    # -- introspection -----------------------------------------------------------------

    def params(self) -> dict:
        """Parameters shown by :meth:`describe` (subclasses override)."""
        return {}

    def describe(self) -> dict:
        """``{"stream": kind, <params>, "children": [...]}`` as plain data."""
        d = {"stream": self.kind}
        d.update(self.params())
        if _plan_mode:
            d.update(self.native_extra())
        if self.children:
            d["children"] = [describe_child(c, self) for c in self.children]
        return d

    def native_extra(self) -> dict:
        """What the native compiler needs beyond :meth:`params` to rebuild this stream
        exactly (only in :func:`dmon.native.plan`'s descriptions; never part of state
        snapshots' parameters)."""
        return {}

    def _copied(self, copy: "Stream") -> None:
        """Called by :func:`fresh` on the original with its new copy (regroup passes on the
        address under which the owner of a new key finds it)."""

    def _state(self) -> Any:
        return None

    def _restore(self, data: Any) -> None:
        pass

    def branches(self) -> list[tuple[str, Any]]:
        """Every stream directly below this one with a label: ``"0"``, ``"1"``, ... for
        the children, plus ``"else.0"``, ``"handler"``, ... for streams held elsewhere
        (``where``'s else branch, ``exception_stream``'s handler). :mod:`dmon.state`
        builds its paths from these labels."""
        return [(str(i), c) for i, c in enumerate(self.children)]

    def state(self) -> Any:
        """This stream's state and that of the streams below it, as plain data (dicts,
        lists, numbers, strings, None) that survives ``json.dumps``; None when nothing
        is kept. Children go under ``"c"`` by position, other branches under ``"x"`` by
        label."""
        own = self._state()
        kids = [c.state() if isinstance(c, Stream) else None for c in self.children]
        extra = {label: c.state() for label, c in self.branches()[len(self.children):]
                 if isinstance(c, Stream)}
        extra = {k: v for k, v in extra.items() if v is not None}
        if own is None and not any(k is not None for k in kids) and not extra:
            return None
        d = {"s": own, "c": kids}
        if extra:
            d["x"] = extra
        return d

    def restore(self, data: Any) -> None:
        """Load what :meth:`state` returned (from the same stream graph)."""
        if data is None:
            return
        self._restore(data.get("s"))
        for c, k in zip(self.children, data.get("c") or ()):
            if isinstance(c, Stream) and k is not None:
                c.restore(k)
        extra = data.get("x")
        if extra:
            for label, c in self.branches()[len(self.children):]:
                if isinstance(c, Stream) and extra.get(label) is not None:
                    c.restore(extra[label])

    def __repr__(self) -> str:
        return f"<dmon {self.kind}>"


def builtin(factory: Callable[..., "Stream"]) -> Callable[..., "Stream"]:
    """Mark a public stream constructor: the stream it returns remembers how it was built,
    so ``by`` can build a fresh copy for every key (Riemann evaluates ``by``'s child
    forms once per fork)."""
    import functools

    @functools.wraps(factory)
    def build(*args: Any, **kwargs: Any) -> "Stream":
        s = factory(*args, **kwargs)
        if isinstance(s, Stream):
            s._recipe = (factory, args, kwargs)
        return s
    build.__wrapped_factory__ = factory  # type: ignore[attr-defined]
    return build


def fresh(x: Any) -> Any:
    """A new copy of a built-in stream graph, built the way the original was, in the
    original's runtime; anything else (outputs, your functions and generators) is shared.

    >>> from dmon import counter
    >>> out = []; a = counter(out.append); b = fresh(a)
    >>> a.send({"metric": 1}); b.send({"metric": 5}); a.send({"metric": 1}); [e["metric"] for e in out]
    [1, 5, 2]
    """
    if isinstance(x, Stream):
        recipe = x.__dict__.get("_recipe")
        if recipe is None:
            return x
        factory, args, kwargs = recipe
        from .runtime import activate
        prev = current()
        activate(x.rt)
        try:
            s = factory(*[fresh(a) for a in args], **{k: fresh(v) for k, v in kwargs.items()})
        finally:
            activate(prev)
        if isinstance(s, Stream):
            s._recipe = recipe
            x._copied(s)
        return s
    if isinstance(x, list):
        return [fresh(a) for a in x]
    if isinstance(x, tuple):
        return tuple(fresh(a) for a in x)
    return x
