"""Test harness for streams and stream modules: a controlled clock, injected events, collected outputs."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence

from .core import Child, Stream
from .events import Event, is_number
from .runtime import Runtime, activate, current

__all__ = ["run", "run_intervals", "FakeClock", "Harness", "tap"]


class FakeClock:
    """A clock that only moves when told; pass it as ``Runtime(clock=FakeClock())``.

    >>> c = FakeClock(5); c(), c.set(7), c()
    (5.0, None, 7.0)
    """

    def __init__(self, t: float = 0.0) -> None:
        self.t = float(t)

    def __call__(self) -> float:
        return self.t

    def set(self, t: float) -> None:
        self.t = float(t)


class _Collect(Stream):
    kind = "collect"

    def __init__(self, out: list) -> None:
        super().__init__()
        self.out = out

    def send(self, event: Any) -> None:
        self.out.append(event)


class Harness:
    """A runtime with a controlled clock, for tests of single streams or whole modules.

    Outputs that talk to the network (email, webhook, graphite, ...) are captured in
    ``captured`` as ``(kind, event)`` instead of being sent, and ``tap`` points record
    what passes them in ``taps``.

    >>> h = Harness()
    >>> with h:
    ...     from dmon import rate
    ...     out = []; s = rate(1, out.append)
    >>> s.send({"metric": 3}); h.advance(1); out
    [{'metric': 3.0, 'time': 1.0}]
    """

    def __init__(self, start: float = 0.0, *, config: Mapping[str, Any] | None = None,
                 capture_outputs: bool = True,
                 on_exception: Callable[[str, Event | None, BaseException], Any] | None = None) -> None:
        self.clock = FakeClock(start)
        self.rt = Runtime(clock=self.clock, config=config, on_exception=on_exception)
        self.rt.captured = [] if capture_outputs else None
        self.rt.taps = {}
        self._prev: Runtime | None = None

    # Building streams: inside `with harness:` streams attach to its runtime.
    def __enter__(self) -> "Harness":
        self._prev = current()
        activate(self.rt)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._prev is not None:
            activate(self._prev)

    def build(self, factory: Callable[[], Any]) -> Any:
        """Call ``factory()`` with this harness's runtime active and return its result."""
        with self:
            return factory()

    @property
    def now(self) -> float:
        return self.clock.t

    def advance_to(self, t: float) -> None:
        """Move the clock to ``t`` (never backwards), running every timer due up to it."""
        if t > self.clock.t:
            self.rt.tick(t)
            self.clock.set(t)

    def advance(self, dt: float) -> None:
        """Move the clock ``dt`` seconds ahead, running due timers in order."""
        self.advance_to(self.clock.t + dt)

    def load(self, module_name: str) -> list[tuple[str, Any]]:
        """Load a stream module (a fresh instance) with this runtime; returns its roots."""
        from .loader import load
        prev = current()
        try:
            return load(module_name, self.rt)
        finally:
            activate(prev)

    def inject(self, events: Iterable[Event], *, follow_time: bool = True) -> None:
        """Send events through the loaded root streams (as the server does). With
        ``follow_time``, the clock first advances to each event's time."""
        for e in events:
            if follow_time and isinstance(e, dict) and is_number(e.get("time")):
                self.advance_to(e["time"])
            self.rt.dispatch(e)

    def expire(self) -> list[Event]:
        """Reap the in-memory index now (expired events are reinjected into the roots)."""
        return self.rt.expire(self.clock.t)

    @property
    def index(self) -> list[Event]:
        """Everything in the in-memory index."""
        return self.rt.indexed()

    def lookup(self, host: Any, service: Any) -> Event | None:
        """The indexed event for ``(host, service)``."""
        return self.rt.lookup(host, service)

    @property
    def captured(self) -> list[tuple[str, Any]]:
        """``(output kind, event)`` for every event an output would have sent."""
        return self.rt.captured

    def published(self, topic: str) -> list[Event]:
        """Events a ``publish(topic)`` stream published on ``topic``, oldest first."""
        return self.rt.published(topic)

    def history(self, query: Any = None, start: float | None = None,
                end: float | None = None) -> list[Event]:
        """Events ``store()`` streams stored, with ``start <= time < end``, matching
        ``query`` (a Riemann query string or a predicate), oldest first."""
        return self.rt.history(query, start, end)

    @property
    def taps(self) -> dict[str, list]:
        """Events seen by each :func:`tap`, by name."""
        return self.rt.taps


def run(build: Callable[[Child], Any], events: Iterable[Any]) -> list:
    """Run ``events`` through ``build(child)`` on a fresh controlled clock starting at 0;
    before each event the clock advances to its ``time`` (if it has one), running due
    timers. Returns everything that reached ``child``, in order.

    >>> from dmon import where
    >>> run(lambda out: where("metric > 1", out), [{"metric": 1}, {"metric": 2}])
    [{'metric': 2}]
    """
    h = Harness()
    out: list = []
    with h:
        stream = build(_Collect(out))
    for e in events:
        if isinstance(e, dict) and is_number(e.get("time")):
            h.advance_to(e["time"])
        stream.send(e)
    return out


def run_intervals(build: Callable[[Child], Any], inputs: Sequence[Any]) -> list:
    """Feed ``[e1, d1, e2, d2, ...]``: e1 at t=0, then advance the clock by d1 firing
    every due timer, then e2, ... (a ``None`` interval does not move the clock).
    Returns everything that reached the child.

    >>> from dmon import rate
    >>> run_intervals(lambda out: rate(1, out), [{"metric": 2}, 1])
    [{'metric': 2.0, 'time': 1.0}]
    """
    h = Harness()
    out: list = []
    with h:
        stream = build(_Collect(out))
    items = list(inputs)
    for i in range(0, len(items), 2):
        stream.send(items[i])
        if i + 1 < len(items) and items[i + 1] is not None:
            h.advance(items[i + 1])
    return out


class _Tap(Stream):
    kind = "tap"

    def __init__(self, name: str, children: Sequence[Child]) -> None:
        super().__init__(children)
        self.name = name
        taps = getattr(self.rt, "taps", None)
        self._record = taps.setdefault(name, []).append if taps is not None else None

    def send(self, event: Any) -> None:
        if self._record is not None:
            self._record(event)
        self.emit(event)

    def params(self) -> dict:
        return {"name": self.name}


def tap(name: str, *children: Child) -> Stream:
    """A named observation point: passes events on, and under a :class:`Harness` records
    them in ``harness.taps[name]`` (Riemann's ``tap``). Free in production.

    >>> h = Harness()
    >>> s = h.build(lambda: tap("alerts"))
    >>> s.send({"state": "critical"}); h.taps["alerts"]
    [{'state': 'critical'}]
    """
    return _Tap(name, children)
