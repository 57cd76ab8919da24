"""The runtime a stream talks to: clock, timers, index, reinjection, exception reporting, background workers."""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time as _time
import traceback
from collections import deque
from typing import Any, Callable, Iterable, Mapping

from .events import DEFAULT_TTL, Event, is_expired, is_number, normalize

log = logging.getLogger("dmon.runtime")

__all__ = ["Runtime", "Timer", "Worker", "activate", "current"]


class Touch:
    """Marks the per-key state an event or a timer changed (a ``by`` fork), so that a
    cluster's replication round exports only what changed (``dmon.state.snapshot(...,
    changed=True)``). A mark made inside another fork points ``up`` to that fork's, and marking
    one marks the enclosing forks too."""

    __slots__ = ("dirty", "up")

    def __init__(self, up: "Touch | None") -> None:
        self.dirty = True  # new state has not been exported yet
        self.up = up

    def mark(self) -> None:
        t: Touch | None = self
        while t is not None:
            t.dirty = True
            t = t.up


class Timer:
    """A scheduled call, returned by :meth:`Runtime.every`, :meth:`Runtime.after` and
    :meth:`Runtime.at`. ``cancel()`` stops it; ``defer(delay)`` pushes its next run to
    ``now + delay`` (Riemann's ``defer``, used by ``fill_in``).

    >>> rt = Runtime(clock=lambda: 0.0); calls = []
    >>> t = rt.every(1, lambda: calls.append(rt.now()))
    >>> rt.tick(3); t.cancel(); rt.tick(10); calls
    [1.0, 2.0, 3.0]
    """

    __slots__ = ("due", "interval", "fn", "cancelled", "deferred", "_rt", "name", "seq", "owner")

    def __init__(self, rt: "Runtime", due: float, interval: float | None,
                 fn: Callable[[], Any], name: str) -> None:
        self._rt = rt
        self.due = due
        self.interval = interval
        self.fn = fn
        self.name = name
        self.cancelled = False
        self.deferred: float | None = None
        self.seq = next(rt._seq)  # ties at one instant run in creation order, as in Riemann
        self.owner = rt.owner  # the fork whose streams made it: marked when it runs

    def cancel(self) -> None:
        """Stop this timer; a cancelled timer never runs again."""
        self.cancelled = True

    def defer(self, delay: float) -> None:
        """Skip runs until ``now + delay``, then continue every ``interval`` from there."""
        self.deferred = self._rt.now() + delay

    def __repr__(self) -> str:
        return f"Timer({self.name}, due={self.due}, interval={self.interval})"


class Worker:
    """A bounded queue drained by one daemon thread, so slow outputs (SMTP, HTTP, TCP)
    never block a stream. A full queue drops the job and counts it; a failing job is
    logged and counted. Obtain one with :meth:`Runtime.worker`.

    >>> w = Worker("demo", maxsize=2); done = []
    >>> w.submit(lambda: done.append(1))
    True
    >>> w.join(5.0) and done
    [1]
    """

    def __init__(self, name: str, maxsize: int = 1000) -> None:
        self.name = name
        self.maxsize = maxsize
        self.submitted = 0
        self.completed = 0
        self.dropped = 0
        self.failed = 0
        self._q: queue.Queue = queue.Queue(maxsize)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], Any]) -> bool:
        """Queue ``job``; returns False (and counts a drop) when the queue is full."""
        if self._thread is None:
            self._start()
        try:
            self._q.put_nowait(job)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:  # rate-limited: overload is loud enough
                log.warning("dmon output %s: queue full (%d jobs), dropped %d so far",
                            self.name, self.maxsize, self.dropped)
            return False
        self.submitted += 1
        return True

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every queued job ran; returns False on timeout (for tests and shutdown)."""
        deadline = None if timeout is None else _time.monotonic() + timeout
        with self._q.all_tasks_done:
            while self._q.unfinished_tasks:
                left = None if deadline is None else deadline - _time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._q.all_tasks_done.wait(left)
        return True

    def counters(self) -> dict[str, int]:
        """Submitted, completed, dropped and failed jobs, and the current queue size."""
        return {"submitted": self.submitted, "completed": self.completed,
                "dropped": self.dropped, "failed": self.failed, "queued": self._q.qsize()}

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                t = threading.Thread(target=self._run, name=f"dmon-{self.name}", daemon=True)
                t.start()
                self._thread = t

    def _run(self) -> None:
        while True:
            job = self._q.get()
            try:
                job()
                self.completed += 1
            except Exception:
                self.failed += 1
                log.exception("dmon output %s failed", self.name)
            finally:
                self._q.task_done()


class Runtime:
    """Everything a stream needs from its host: the clock, timers driven by :meth:`tick`,
    the index behind ``index()``, reinjection into the root streams, exception reporting,
    the pubsub behind ``publish(topic)``, the event history behind ``store()`` and
    background workers for outputs.

    Callables the server passes (all optional keywords; each defaults to a pure-Python
    implementation in this object):

    - ``index(event)``: write to the node's index (state "expired" deletes the key);
    - ``reinject(event)``: send an event back into the root streams;
    - ``clock()``: unix seconds;
    - ``config``: a mapping of settings;
    - ``on_exception(where, event_or_None, exc)``: a stream caught an exception;
    - ``publish(topic, event)``: a ``publish(topic)`` stream sent ``event`` on ``topic``;
    - ``store(event)``: a ``store()`` stream persists ``event`` (it always has ``time``);
    - ``regroup(address, fields, event)``: a ``regroup()`` stream hands ``event`` to the owner
      of its new key, which runs it with :meth:`regroup_in` (without it, regroup passes
      events straight to its children).

    Events handed to ``publish`` and ``store`` are fresh dicts in the server's shape
    (:func:`dmon.events.normalize`), never shared with the streams.

    The server builds one per shard and passes its callables; plain Python gets a
    default one with an in-memory index, so stream modules run and test anywhere.

    >>> rt = Runtime(clock=lambda: 100.0)
    >>> rt.index({"host": "a", "service": "cpu", "metric": 1})
    >>> rt.lookup("a", "cpu")["time"]
    100.0
    """

    def __init__(self, *, index: Callable[[Event], Any] | None = None,
                 reinject: Callable[[Event], Any] | None = None,
                 clock: Callable[[], float] | None = None,
                 config: Mapping[str, Any] | None = None,
                 on_exception: Callable[[str, Event | None, BaseException], Any] | None = None,
                 publish: Callable[[str, Event], Any] | None = None,
                 store: Callable[[Event], Any] | None = None,
                 regroup: Callable[[str, list, Event], Any] | None = None) -> None:
        self._index_fn = index
        self._regroup_fn = regroup
        self.regroups: dict[str, Any] = {}
        """The regroup() streams of the loaded roots by address (see :meth:`bind_regroups`)."""
        self._publish_fn = publish
        self._store_fn = store
        self._reinject_fn = reinject
        self._clock = clock
        self.config: dict[str, Any] = dict(config or {})
        self._on_exception = on_exception
        self.exceptions = 0
        """How many exceptions streams reported (see :meth:`report_exception`)."""
        self.roots: list[tuple[str, Any]] = []
        """Root streams loaded with this runtime; plain-Python reinjection goes to them."""
        self.reinjected: deque[Event] = deque(maxlen=10000)
        """The most recent reinjected events, for tests and the shell."""
        self.captured: list[tuple[str, Any]] | None = None
        """When a list (under dmon.testing), network outputs append (kind, event) here
        instead of sending."""
        self.taps: dict[str, list] | None = None
        """When a dict (under dmon.testing), tap() streams record events here."""
        self._index: dict[tuple[Any, Any], Event] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._now_override: float | None = None
        self.owner: Touch | None = None
        """The ``by`` fork whose streams are running now (see :class:`Touch`)."""
        self._pending: deque[Event] | None = None
        self._workers: dict[str, Worker] = {}
        self._workers_lock = threading.Lock()
        self._subscribers: dict[str, list[Callable[[Event], Any]]] = {}
        self._published: dict[str, deque[Event]] = {}
        self._publish_log_size = int(self.config.get("publish_log_size", 1000))
        self._history: deque[Event] = deque(maxlen=int(self.config.get("history_size", 10000)))

    # -- time ---------------------------------------------------------------

    def now(self) -> float:
        """Current time in unix seconds: while a timer runs, the time it was due;
        else ``clock()`` if given, else ``time.time()``."""
        if self._now_override is not None:
            return self._now_override
        if self._clock is not None:
            return float(self._clock())
        return _time.time()

    def every(self, interval: float, fn: Callable[[], Any], delay: float | None = None,
              name: str = "every") -> Timer:
        """Call ``fn`` every ``interval`` seconds, first after ``delay`` (default: one
        interval), from :meth:`tick`.

        >>> rt = Runtime(clock=lambda: 0.0); out = []
        >>> _ = rt.every(2, lambda: out.append(rt.now()), delay=0)
        >>> rt.tick(4); out
        [0.0, 2.0, 4.0]
        """
        if not interval > 0:
            raise ValueError(f"timer interval must be > 0 seconds, got {interval!r}")
        start = self.now() + (interval if delay is None else delay)
        return self._schedule(Timer(self, float(start), float(interval), fn, name))

    def after(self, delay: float, fn: Callable[[], Any], name: str = "after") -> Timer:
        """Call ``fn`` once, ``delay`` seconds from now.

        >>> rt = Runtime(clock=lambda: 0.0); out = []
        >>> _ = rt.after(1.5, lambda: out.append(rt.now())); rt.tick(1); rt.tick(2); out
        [1.5]
        """
        return self.at(self.now() + delay, fn, name)

    def at(self, t: float, fn: Callable[[], Any], name: str = "at") -> Timer:
        """Call ``fn`` once at unix time ``t`` (at the next tick if ``t`` is past)."""
        return self._schedule(Timer(self, float(t), None, fn, name))

    def _schedule(self, timer: Timer) -> Timer:
        heapq.heappush(self._timers, (timer.due, timer.seq, timer))
        return timer

    def tick(self, now: float | None = None) -> None:
        """Run every timer due at or before ``now`` (default :meth:`now`), in time order.

        While a timer runs, :meth:`now` returns its due time, so a rate emitted by a tick
        that came late still carries the time it was meant for. A timer that raises is
        reported and keeps its schedule.
        """
        if now is None:
            now = self.now()
        timers = self._timers
        previous = self._now_override
        try:
            while timers and timers[0][0] <= now:
                due, _, timer = heapq.heappop(timers)
                if timer.cancelled:
                    continue
                self._now_override = due
                if timer.deferred is not None:
                    # Riemann's defer: skip this run, resume from the deferred time.
                    timer.due, timer.deferred = timer.deferred, None
                    self._schedule(timer)
                    continue
                owner = timer.owner
                try:
                    if owner is None:
                        timer.fn()
                    else:
                        owner.mark()
                        outer, self.owner = self.owner, owner
                        try:
                            timer.fn()
                        finally:
                            self.owner = outer
                except Exception as exc:
                    self.report_exception(f"timer {timer.name}", None, exc)
                if timer.interval is not None and not timer.cancelled:
                    if timer.deferred is not None:
                        timer.due, timer.deferred = timer.deferred, None
                    else:
                        timer.due = due + timer.interval
                    self._schedule(timer)
        finally:
            self._now_override = previous

    def pending_timers(self) -> list[Timer]:
        """Live timers in due order (for tests and introspection)."""
        return [t for _, _, t in sorted(self._timers) if not t.cancelled]

    def next_due(self) -> float | None:
        """When the next live timer is due, or None."""
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    # -- index --------------------------------------------------------------

    def index(self, event: Event) -> None:
        """Write ``event`` to the index: the server's when it gave one, else the in-memory
        index here (latest event per (host, service); state "expired" deletes the key;
        an event without time gets :meth:`now`)."""
        if self._index_fn is not None:
            self._index_fn(event)
            return
        key = (event.get("host"), event.get("service"))
        if event.get("state") == "expired":
            self._index.pop(key, None)
            return
        e = normalize(event)
        if "time" not in e:
            e["time"] = self.now()
        self._index[key] = e

    def indexed(self) -> list[Event]:
        """Every event in the in-memory index, in insertion order."""
        return list(self._index.values())

    def lookup(self, host: Any, service: Any) -> Event | None:
        """The indexed event for ``(host, service)``, or None."""
        return self._index.get((host, service))

    def search(self, query: str | Callable[[Event], Any]) -> list[Event]:
        """Indexed events matching a Riemann query string or a predicate.

        >>> rt = Runtime(clock=lambda: 0.0); rt.index({"host": "a", "metric": 3})
        >>> [e["host"] for e in rt.search("metric > 2")]
        ['a']
        """
        if isinstance(query, str):
            from .query import compile_query
            query = compile_query(query)
        return [e for e in self._index.values() if query(e)]

    def expire(self, now: float | None = None, keep_keys: Iterable[str] = ("host", "service")) -> list[Event]:
        """Reap the in-memory index like Riemann's ``periodically-expire``: remove entries
        with ``now - time > (ttl or 60)``, reinject ``{host, service, state "expired",
        time now}`` for each, and return those events."""
        now = self.now() if now is None else now
        keep = tuple(keep_keys)
        out = []
        for key, e in list(self._index.items()):
            ttl = e.get("ttl", DEFAULT_TTL)
            if not is_number(ttl):
                del self._index[key]  # Riemann drops malformed ttls silently
                continue
            if now - e["time"] > ttl:
                del self._index[key]
                x = {k: e[k] for k in keep if k in e}
                x["state"] = "expired"
                x["time"] = now
                out.append(x)
        for x in out:
            self.reinject(x)
        return out

    def clear_index(self) -> None:
        """Forget every entry of the in-memory index."""
        self._index.clear()

    # -- pubsub ---------------------------------------------------------------

    def publish(self, topic: str, event: Event) -> None:
        """Publish ``event`` on ``topic`` (Riemann's ``publish``): to the server's callable
        when given (which feeds WebSocket ``/pubsub/<topic>`` subscribers), else to a
        bounded in-memory log per topic (``config["publish_log_size"]``, default 1000,
        read with :meth:`published`). Subscribers added with :meth:`subscribe` are called
        either way; one that raises is reported and the others still run.

        >>> rt = Runtime(); got = []
        >>> _ = rt.subscribe("alerts", got.append)
        >>> rt.publish("alerts", {"host": "a", "env": "prod"}); got
        [{'host': 'a', 'attributes': {'env': 'prod'}}]
        >>> rt.published("alerts") == got
        True
        """
        e = normalize(event)
        if self._publish_fn is not None:
            self._publish_fn(topic, e)
        else:
            log_ = self._published.get(topic)
            if log_ is None:
                log_ = self._published[topic] = deque(maxlen=self._publish_log_size)
            log_.append(e)
        subs = self._subscribers.get(topic)
        if subs:
            for fn in tuple(subs):
                try:
                    fn(e)
                except Exception as exc:
                    self.report_exception(f"subscriber of topic {topic}", e, exc)

    def subscribe(self, topic: str, fn: Callable[[Event], Any]) -> Callable[[], None]:
        """Call ``fn(event)`` for every event published on ``topic`` from now on, in this
        process; returns a function that unsubscribes.

        >>> rt = Runtime(); got = []; stop = rt.subscribe("t", got.append)
        >>> rt.publish("t", {"metric": 1}); stop(); rt.publish("t", {"metric": 2}); got
        [{'metric': 1}]
        """
        subs = self._subscribers.setdefault(topic, [])
        subs.append(fn)

        def unsubscribe() -> None:
            if fn in subs:
                subs.remove(fn)
        return unsubscribe

    def published(self, topic: str) -> list[Event]:
        """The most recent events published on ``topic`` (in-memory log only: empty when
        the server took them)."""
        return list(self._published.get(topic, ()))

    def topics(self) -> list[str]:
        """Topics with something in the in-memory publish log."""
        return list(self._published)

    # -- history ----------------------------------------------------------------

    def store(self, event: Event) -> None:
        """Persist ``event`` to the event history (what the ``store()`` stream does): the
        server's callable when given (history in RocksDB, with retention), else a bounded
        in-memory list (``config["history_size"]``, default 10000, oldest dropped first)
        read with :meth:`history`. An event without time gets :meth:`now`."""
        e = normalize(event)
        if "time" not in e:
            e["time"] = self.now()
        if self._store_fn is not None:
            self._store_fn(e)
        else:
            self._history.append(e)

    def history(self, query: str | Callable[[Event], Any] | None = None,
                start: float | None = None, end: float | None = None) -> list[Event]:
        """Stored events (in-memory history) with ``start <= time < end`` that match
        ``query`` (a Riemann query string or a predicate; None matches all), oldest
        first.

        >>> rt = Runtime(clock=lambda: 0.0)
        >>> for t in (1, 2, 3): rt.store({"service": "cpu", "metric": t, "time": t})
        >>> [e["time"] for e in rt.history('service = "cpu"', start=2, end=3)]
        [2]
        """
        if isinstance(query, str):
            from .query import compile_query
            query = compile_query(query)
        out = [e for e in self._history
               if (start is None or e["time"] >= start) and (end is None or e["time"] < end)
               and (query is None or query(e))]
        out.sort(key=lambda e: e["time"])
        return out

    # -- reinjection ----------------------------------------------------------

    def reinject(self, event: Event) -> None:
        """Send ``event`` back into the root streams: the server's callable when given,
        else the roots loaded with this runtime. Events reinjected while roots are
        running are queued and delivered after, so a loop cannot overflow the stack."""
        e = normalize(event)
        self.reinjected.append(e)
        if self._reinject_fn is not None:
            self._reinject_fn(e)
            return
        if self._pending is not None:
            self._pending.append(e)
            return
        self._pending = deque((e,))
        try:
            while self._pending:
                self.dispatch(self._pending.popleft())
        finally:
            self._pending = None

    def dispatch(self, event: Event) -> None:
        """Send one event through every root stream, as the server does; a root that
        raises is reported and the others go on."""
        for name, stream in self.roots:
            try:
                stream.send(event)
            except Exception as exc:
                self.report_exception(f"root stream {name}", event, exc)

    # -- regroup ----------------------------------------------------------------

    def bind_regroups(self, roots: Iterable[tuple[str, Any]]) -> dict[str, Any]:
        """Give every regroup() stream of ``roots`` its address, ``"<root>/<path>"`` with the
        path of :func:`dmon.state.walk` (``"stream/where/0:regroup"``; below a ``by`` template,
        ``"stream/by/t0:rate/0:regroup"``), and remember it in
        :attr:`regroups`. Every node loads the same module, so the owner of a new key finds
        the same stream under the same address. Returns the streams bound now.

        >>> from dmon import regroup, where
        >>> rt = Runtime(); s = where("true", regroup([], print))
        >>> list(rt.bind_regroups([("stream", s)]))
        ['stream/where/0:regroup']
        """
        from .streams import _Regroup, regroup_walk
        bound = {}
        for name, root in roots:
            if not hasattr(root, "branches"):
                continue
            prefix = f"{name}/"
            for k in [k for k in self.regroups if k.startswith(prefix)]:
                del self.regroups[k]
            for path, s in regroup_walk(root):
                if isinstance(s, _Regroup):
                    s.address = f"{name}/{path}"
                    bound[s.address] = s
        self.regroups.update(bound)
        return bound

    def regroup_in(self, address: str, event: Event) -> None:
        """Run the children of the regroup() stream at ``address`` on ``event`` (it arrived
        from the node or shard where that stream's parent saw it). Raises ``KeyError`` when
        this module has no such stream: every node must load the same stream module."""
        s = self.regroups.get(address)
        if s is None:
            raise KeyError(
                f"no regroup() stream at {address!r} in this node's stream module (it has "
                f"{sorted(self.regroups) or 'none'}): every node must load the same module")
        s.deliver(event)

    # -- exceptions -----------------------------------------------------------

    def report_exception(self, where: str, event: Event | None, exc: BaseException) -> None:
        """Count an exception a stream caught and pass it to ``on_exception``, or log it
        with its traceback. Never raises."""
        self.exceptions += 1
        if self._on_exception is not None:
            try:
                self._on_exception(where, event, exc)
                return
            except Exception:
                log.exception("dmon on_exception handler failed")
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        log.error("dmon stream %s raised on event %r:\n%s", where, event, tb.rstrip())

    # -- background work ------------------------------------------------------

    def worker(self, name: str, maxsize: int = 1000,
               factory: Callable[[str, int], Worker] | None = None) -> Worker:
        """The background worker of that name, created on first use (by
        ``factory(name, maxsize)``, default :class:`Worker`); outputs of one kind share
        it, so ``by`` forks do not multiply threads."""
        w = self._workers.get(name)
        if w is None:
            with self._workers_lock:
                w = self._workers.get(name)
                if w is None:
                    w = self._workers[name] = (factory or Worker)(name, maxsize)
        return w

    def workers(self) -> dict[str, Worker]:
        """Every worker created so far, by name."""
        return dict(self._workers)

    def drain(self, timeout: float | None = 10.0) -> bool:
        """Wait until every worker's queue is empty; False on timeout."""
        return all(w.join(timeout) for w in list(self._workers.values()))

    def __deepcopy__(self, memo: dict) -> "Runtime":
        # Copying a stream template (by forks) must share the runtime, not clone it.
        return self

    def __repr__(self) -> str:
        return f"<dmon Runtime index={len(self._index)} timers={len(self._timers)} exceptions={self.exceptions}>"


_current = Runtime()


def activate(rt: Runtime) -> Runtime:
    """Make ``rt`` the runtime that streams built from now on attach to; returns it.

    >>> rt = activate(Runtime()); current() is rt
    True
    """
    global _current
    _current = rt
    return rt


def current() -> Runtime:
    """The active runtime (a default one exists so plain ``python3`` needs no setup)."""
    return _current


def is_expired_now(event: Event, rt: Runtime | None = None) -> bool:
    """``is_expired`` against the runtime's clock."""
    return is_expired(event, (rt or _current).now())

