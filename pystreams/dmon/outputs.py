"""Outputs as streams: log, stdout, file, email, webhook, slack, pagerduty, graphite, prometheus_push, forward."""

from __future__ import annotations

import json
import logging
import math
import queue as _queue
import re
import smtplib
import socket
import sys
import threading
import time as _time
import urllib.request
from email.message import EmailMessage
from typing import Any, Callable, Iterable, Mapping, Sequence

from . import wire
from .core import Stream
from .events import CORE_KEYS, Event, events_in
from .runtime import Worker
from .wire import Client

__all__ = [
    "log", "stdout", "log_file", "email", "mailer", "email_subject", "email_body", "webhook",
    "slack", "pagerduty", "PagerDuty", "graphite", "graphite_path", "graphite_path_percentiles",
    "prometheus_push", "Output", "forward", "ForwardWorker",
]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "warning": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL}

_event_log = logging.getLogger("dmon.events")
_log = logging.getLogger("dmon.outputs")


def _ensure_handler() -> None:
    # Plain logging drops INFO when nobody configured it; stream logs must be seen.
    if not logging.getLogger().handlers and not _event_log.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        _event_log.addHandler(h)
        _event_log.setLevel(logging.DEBUG)


def _json(x: Any) -> str:
    return json.dumps(x, default=str, ensure_ascii=False)


class Output(Stream):
    """Base of outputs: shared (not copied) by ``by`` forks, and, for slow ones, run on
    a background worker of the runtime so the stream never waits. A full queue drops
    the event and counts it (``worker.counters()``)."""

    kind = "output"
    queue_name = ""
    maxsize = 1000

    def __init__(self) -> None:
        super().__init__()
        self.worker = self.rt.worker(self.queue_name, self.maxsize) if self.queue_name else None

    def __deepcopy__(self, memo: dict) -> "Output":
        return self

    def deliver(self, event: Any) -> None:
        """Do the slow part (runs on the worker thread)."""

    def send(self, event: Any) -> bool:
        captured = self.rt.captured
        if captured is not None:
            captured.append((self.kind, event))
            return True
        return self.worker.submit(lambda: self.deliver(event))


# -- logs ------------------------------------------------------------------------------


class _Log(Output):
    kind = "log"

    def __init__(self, level: str) -> None:
        super().__init__()
        if level.lower() not in _LEVELS:
            raise ValueError(f"log level must be one of {sorted(_LEVELS)}, got {level!r}")
        self.level = level.lower()
        self._lvl = _LEVELS[self.level]
        _ensure_handler()

    def send(self, event: Any) -> None:
        _event_log.log(self._lvl, "%s", _json(event))

    def params(self) -> dict:
        return {"level": self.level}


def log(level: str = "info") -> Stream:
    """Log each event (or list of events) as one JSON line to the server log via the
    ``dmon.events`` logger; ``level`` is debug, info, warning, error or critical.

    >>> log("warning").send({"host": "web-1", "state": "critical"})
    """
    return _Log(level)


class _Stdout(Output):
    kind = "stdout"

    def send(self, event: Any) -> None:
        sys.stdout.write(_json(event) + "\n")
        sys.stdout.flush()


def stdout() -> Stream:
    """Print each event as one JSON line on standard output (Riemann's ``prn``).

    >>> stdout().send({"host": "web-1"})
    {"host": "web-1"}
    """
    return _Stdout()


class _LogFile(Output):
    kind = "log_file"
    queue_name = "file"

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._f: Any = None

    def deliver(self, event: Any) -> None:
        if self._f is None:
            self._f = open(self.path, "a", encoding="utf-8")
        self._f.write(_json(event) + "\n")
        self._f.flush()

    def params(self) -> dict:
        return {"path": self.path}


def log_file(path: str) -> Stream:
    """Append each event as one JSON line to the file at ``path`` (on a background thread).

    >>> import tempfile, os; p = os.path.join(tempfile.mkdtemp(), "events.log")
    >>> s = log_file(p); _ = s.send({"host": "a"}); _ = s.worker.join(5); open(p).read()
    '{"host": "a"}\\n'
    """
    return _LogFile(path)


# -- email -----------------------------------------------------------------------------


def _human_uniq(things: Iterable[Any], kind: str) -> str | None:
    xs = list(dict.fromkeys(x for x in things if x is not None))
    if not xs:
        return None
    if len(xs) == 1:
        return str(xs[0])
    if len(xs) == 2:
        return f"{xs[0]} and {xs[1]}"
    if len(xs) <= 4:
        return ", ".join(map(str, xs))
    return f"{len(xs)} {kind}"


def email_subject(events: Sequence[Event]) -> str:
    """Riemann's subject line: hosts, services and states, summarised.

    >>> email_subject([{"host": "web-1", "service": "cpu", "state": "warning"}])
    'web-1 cpu warning'
    """
    parts = [_human_uniq((e.get("host") for e in events), "hosts"),
             _human_uniq((e.get("service") for e in events), "services"),
             _human_uniq((e.get("state") for e in events), "states")]
    return " ".join(p for p in parts if p)


def email_body(events: Sequence[Event]) -> str:
    """Riemann's body: per event its time, host, service, state, metric, tags,
    attributes and description.

    >>> print(email_body([{"host": "web-1", "service": "cpu", "state": "warning", "metric": 0.9, "time": 0}]))
    At 1970-01-01T00:00:00Z
    web-1 cpu warning (0.9)
    Tags: []
    Custom Attributes: {}
    <BLANKLINE>
    <BLANKLINE>
    """
    out = []
    for e in events:
        t = e.get("time")
        when = _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(t)) if t is not None else ""
        attrs = dict(e.get("attributes") or {})
        attrs.update({k: v for k, v in e.items() if k not in CORE_KEYS})
        out.append(
            f"At {when}\n{e.get('host') or ''} {e.get('service') or ''} {e.get('state') or ''} "
            f"({'' if e.get('metric') is None else e.get('metric')})\n"
            f"Tags: [{', '.join(e.get('tags') or ())}]\nCustom Attributes: {attrs}\n\n"
            f"{e.get('description') or ''}")
    return "\n\n\n".join(out)


class _Email(Output):
    kind = "email"
    queue_name = "email"

    def __init__(self, to: Sequence[str], subject: Callable[[Sequence[Event]], str] | None,
                 body: Callable[[Sequence[Event]], str] | None, from_: str | None,
                 smtp: Mapping[str, Any] | None) -> None:
        for t in to:
            if not isinstance(t, str):
                raise TypeError(f"email was passed a recipient that is not a string: {t!r}; "
                                f"write email('ops@example.com') and use the result as a stream")
        super().__init__()
        self.to = list(to)
        self.subject = subject or email_subject
        self.body = body or email_body
        self.from_ = from_
        self.smtp = dict(smtp or {})

    def _opt(self, key: str, default: Any) -> Any:
        v = self.smtp.get(key)
        if v is None:
            v = self.rt.config.get("smtp_" + key)
        return default if v in (None, "") else v

    def message(self, event: Any) -> EmailMessage:
        """The message this output sends for ``event`` (one event or a list)."""
        events = list(events_in(event))
        msg = EmailMessage()
        msg["From"] = self.from_ or self._opt("from", f"dmon@{socket.gethostname()}")
        msg["To"] = ", ".join(self.to)
        msg["Subject"] = self.subject(events)
        msg.set_content(self.body(events))
        return msg

    def deliver(self, event: Any) -> None:
        msg = self.message(event)
        host, port = self._opt("host", "localhost"), int(self._opt("port", 25))
        with smtplib.SMTP(host, port, timeout=float(self._opt("timeout", 10))) as s:
            if str(self._opt("tls", "")).lower() in ("1", "true", "yes", "starttls"):
                s.starttls()
            user = self._opt("user", None)
            if user:
                s.login(user, self._opt("password", ""))
            s.send_message(msg)

    def params(self) -> dict:
        return {"to": list(self.to)}


def email(*to: str, subject: Callable[[Sequence[Event]], str] | None = None,
          body: Callable[[Sequence[Event]], str] | None = None, from_: str | None = None,
          smtp: Mapping[str, Any] | None = None) -> Stream:
    """Email each event (or list of events) to ``to`` over SMTP, from a background thread
    (never blocking the stream). Server settings come from the runtime config
    (``smtp_host`` default localhost, ``smtp_port`` 25, ``smtp_from`` default
    dmon@<hostname>, ``smtp_user``, ``smtp_password``, ``smtp_tls``), overridable with
    ``smtp={"host": ..., "port": ...}``. Subject and body are Riemann's, or your
    functions of the list of events. Failures are logged and counted, never raised.

    >>> s = email("ops@example.com"); s.message({"host": "web-1", "service": "cpu", "state": "warning"})["Subject"]
    'web-1 cpu warning'
    """
    if len(to) == 1 and isinstance(to[0], (list, tuple)):
        to = tuple(to[0])
    return _Email(to, subject, body, from_, smtp)


def mailer(**opts: Any) -> Callable[..., Stream]:
    """Riemann's ``mailer``: fix options once, get a function of recipients.

    >>> ops = mailer(smtp={"host": "mail.relay"}, from_="dmon@example.com")
    >>> ops("a@example.com").smtp["host"]
    'mail.relay'
    """
    return lambda *to: email(*to, **opts)


# -- HTTP ------------------------------------------------------------------------------


class _Webhook(Output):
    kind = "webhook"
    queue_name = "http"

    def __init__(self, url: str, headers: Mapping[str, str] | None, timeout: float,
                 payload: Callable[[Any], Any] | None, method: str = "POST",
                 content_type: str = "application/json") -> None:
        super().__init__()
        self.url, self.timeout, self.method = url, timeout, method
        self.headers = {"Content-Type": content_type, "User-Agent": "dmon"}
        self.headers.update(headers or {})
        self.payload = payload

    def body(self, event: Any) -> bytes:
        """The request body for ``event``."""
        data = self.payload(event) if self.payload is not None else event
        if isinstance(data, bytes):
            return data
        if isinstance(data, str):
            return data.encode()
        return _json(data).encode()

    def deliver(self, event: Any) -> None:
        req = urllib.request.Request(self.url, data=self.body(event), headers=self.headers,
                                     method=self.method)
        with urllib.request.urlopen(req, timeout=self.timeout) as r:
            r.read()

    def params(self) -> dict:
        return {"url": self.url}


def webhook(url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 5.0,
            payload: Callable[[Any], Any] | None = None) -> Stream:
    """POST each event (or list) as JSON to ``url`` from a background thread;
    ``payload(event)`` may build another body (dict, str or bytes). HTTP errors are
    logged and counted.

    >>> webhook("http://localhost:9/hook").body({"host": "a"})
    b'{"host": "a"}'
    """
    return _Webhook(url, headers, timeout, payload)


def _slack_text(event: Any) -> str:
    es = list(events_in(event))
    lines = []
    for e in es:
        metric = "" if e.get("metric") is None else f" ({e['metric']})"
        desc = f": {e['description']}" if e.get("description") else ""
        lines.append(f"*{e.get('host') or ''}* {e.get('service') or ''} is "
                     f"*{e.get('state') or 'unknown'}*{metric}{desc}")
    return "\n".join(lines)


def slack(webhook_url: str, *, channel: str | None = None, username: str = "dmon",
          icon_emoji: str | None = None, formatter: Callable[[Any], str] | None = None,
          timeout: float = 5.0) -> Stream:
    """Post each event (or list) to a Slack incoming webhook: ``{"text": ...}`` with an
    optional channel, username and icon; ``formatter(event)`` makes the text.

    >>> import json
    >>> json.loads(slack("http://localhost:9/hook").body({"host": "a", "service": "cpu", "state": "warning"}))["text"]
    '*a* cpu is *warning*'
    """
    fmt = formatter or _slack_text

    def payload(event: Any) -> dict:
        p: dict = {"text": fmt(event), "username": username}
        if channel:
            p["channel"] = channel
        if icon_emoji:
            p["icon_emoji"] = icon_emoji
        return p
    s = _Webhook(webhook_url, None, timeout, payload)
    s.kind = "slack"
    return s


_PD_SEVERITY = {"critical": "critical", "error": "error", "warning": "warning", "ok": "info"}


class PagerDuty:
    """PagerDuty Events API v2 streams: ``trigger``, ``acknowledge`` and ``resolve``;
    the dedup key is ``"<host> <service>"`` so a resolve closes its trigger."""

    def __init__(self, routing_key: str, url: str, timeout: float) -> None:
        def make(action: str) -> Stream:
            def payload(event: Any) -> dict:
                e = next(iter(events_in(event)))
                body: dict = {"routing_key": routing_key, "event_action": action,
                              "dedup_key": f"{e.get('host') or ''} {e.get('service') or ''}"}
                if action == "trigger":
                    body["payload"] = {
                        "summary": f"{e.get('host') or ''} {e.get('service') or ''} is "
                                   f"{e.get('state') or 'unknown'} ({e.get('metric')})"[:1024],
                        "source": e.get("host") or "dmon",
                        "severity": _PD_SEVERITY.get(e.get("state") or "", "error"),
                        "custom_details": e,
                    }
                return body
            s = _Webhook(url, None, timeout, payload)
            s.kind = f"pagerduty_{action}"
            return s
        self.trigger = make("trigger")
        self.acknowledge = make("acknowledge")
        self.resolve = make("resolve")


def pagerduty(routing_key: str, *, url: str = "https://events.pagerduty.com/v2/enqueue",
              timeout: float = 5.0) -> PagerDuty:
    """PagerDuty (Events API v2) as three streams, like Riemann's ``pagerduty``.

    >>> pd = pagerduty("KEY", url="http://localhost:9/enqueue")
    >>> import json; json.loads(pd.resolve.body({"host": "a", "service": "b"}))["event_action"]
    'resolve'
    """
    return PagerDuty(routing_key, url, timeout)


def _prom_name(s: str) -> str:
    return re.sub(r"_{2,}", "_", re.sub(r"[^a-zA-Z0-9_]", "_", s))


def prometheus_push(host: str = "localhost", port: int = 9091, *, job: str = "dmon",
                    timeout: float = 5.0) -> Stream:
    """Push each event with a service and a metric to a Prometheus Pushgateway:
    ``PUT``-free text format ``<service> <metric>`` (service with other characters than
    ``[a-zA-Z0-9_]`` turned into ``_``) to ``/metrics/job/<job>/host/<host>``.

    >>> prometheus_push().body({"host": "a", "service": "cpu load", "metric": 1})
    b'cpu_load 1.0\\n'
    """
    class _Prom(_Webhook):
        kind = "prometheus_push"

        def body(self, event: Any) -> bytes:
            lines = []
            for e in events_in(event):
                if e.get("metric") is not None and e.get("service"):
                    lines.append(f"{_prom_name(e['service'])} {float(e['metric'])}\n")
            return "".join(lines).encode()

        def deliver(self, event: Any) -> None:
            for e in events_in(event):
                data = self.body(e)
                if not data:
                    continue
                url = f"http://{host}:{port}/metrics/job/{job}/host/{e.get('host') or 'unknown'}"
                req = urllib.request.Request(url, data=data, headers=self.headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as r:
                    r.read()

    return _Prom(f"http://{host}:{port}/metrics/job/{job}", None, timeout, None,
                 content_type="text/plain; version=0.0.4")


# -- graphite --------------------------------------------------------------------------


def graphite_path(event: Event) -> str:
    """Riemann's graphite path: host labels reversed, then the service's words, joined
    by dots.

    >>> graphite_path({"host": "web-1.example.com", "service": "cpu load"})
    'com.example.web-1.cpu.load'
    """
    host, service = event.get("host"), event.get("service")
    parts = list(reversed(host.split("."))) if host else []
    parts += service.split(" ") if service else []
    return ".".join(parts)


def graphite_path_percentiles(event: Event) -> str:
    """Like :func:`graphite_path`, with a trailing decimal such as ``0.95`` written ``95``.

    >>> graphite_path_percentiles({"host": "a", "service": "latency 0.95"})
    'a.latency.95'
    """
    service = event.get("service")
    if service:
        def repl(m: re.Match) -> str:
            whole, frac = m.group(1), m.group(2)
            return ("" if whole == "0" else whole) + frac
        event = dict(event)
        event["service"] = re.sub(r"(\d+)\.(\d+)$", repl, service)
    return graphite_path(event)


class _Graphite(Output):
    kind = "graphite"
    queue_name = "graphite"

    def __init__(self, host: str, port: int, path: Callable[[Event], str], timeout: float) -> None:
        super().__init__()
        self.host, self.port, self.path, self.timeout = host, port, path, timeout
        self._sock: socket.socket | None = None

    def line(self, event: Event) -> str | None:
        """The plaintext line for ``event``, or None when it has no metric."""
        m = event.get("metric")
        if m is None or (isinstance(m, float) and math.isnan(m)):
            return None
        t = event.get("time")
        t = int(t if t is not None else _time.time())
        return f"{self.path(event)} {float(m)} {t}\n"

    def deliver(self, event: Any) -> None:
        data = "".join(filter(None, (self.line(e) for e in events_in(event)))).encode()
        if not data:
            return
        for attempt in (1, 2):
            try:
                if self._sock is None:
                    self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
                self._sock.sendall(data)
                return
            except OSError:
                # One reconnect for a connection the server closed; then give up (counted).
                if self._sock is not None:
                    self._sock.close()
                self._sock = None
                if attempt == 2:
                    raise

    def params(self) -> dict:
        return {"host": self.host, "port": self.port}


def graphite(host: str = "localhost", port: int = 2003, *,
             path: Callable[[Event], str] = graphite_path_percentiles, timeout: float = 5.0) -> Stream:
    """Send metrics to Graphite's plaintext TCP port: ``<path> <metric> <unix time>``
    per event, from a background thread with one reused connection.

    >>> graphite().line({"host": "a", "service": "cpu", "metric": 1, "time": 10})
    'a.cpu 1.0 10\\n'
    """
    return _Graphite(host, port, path, timeout)


# -- forward (Riemann protobuf over TCP) ------------------------------------------------


class ForwardWorker(Worker):
    """The background side of :func:`forward`: a bounded queue of events drained by one
    daemon thread that sends them in batches (up to ``batch`` events, or whatever came
    within ``interval`` seconds of the first) over one kept-open connection, reads each
    reply and checks ``ok``.

    A batch that cannot be delivered (no connection, connection lost, no reply) is
    retried on a new connection, at once the first time and then after a backoff that
    doubles from 0.1 s up to ``max_backoff``; meanwhile new events queue up and, once
    the queue is full, are dropped and counted. A batch the server answers with
    ``ok = false`` is not retried (it would fail again): its events count as failed.
    Delivery is at least once: a server that took a batch but whose reply was lost
    gets it again.

    Counters (:meth:`counters`): ``sent`` events acknowledged, ``failed`` events the
    server refused or that could not be encoded, ``dropped`` events refused by a full
    queue, ``errors`` failed connection attempts or exchanges, ``queued``.
    """

    def __init__(self, name: str, maxsize: int, host: str, port: int, batch: int,
                 interval: float, timeout: float, max_backoff: float = 5.0) -> None:
        super().__init__(name, maxsize)
        self.client = Client(host, port, timeout=timeout)
        self.batch = max(1, int(batch))
        self.interval = max(0.0, float(interval))
        self.max_backoff = max_backoff
        self.sent = 0
        self.errors = 0
        self.last_error: str | None = None
        self._backoff = 0.0
        self._stop = threading.Event()

    def counters(self) -> dict[str, int]:
        c = super().counters()
        c.update(sent=self.sent, errors=self.errors)
        return c

    def stop(self) -> None:
        """Stop retrying and close the connection (queued events are not sent)."""
        self._stop.set()
        self.client.close()

    def _run(self) -> None:
        q = self._q
        while True:
            items = [q.get()]
            deadline = _time.monotonic() + self.interval
            while len(items) < self.batch:
                left = deadline - _time.monotonic()
                try:
                    items.append(q.get(timeout=left) if left > 0 else q.get_nowait())
                except _queue.Empty:
                    break
            try:
                self._deliver(items)
            except Exception:  # never let the thread die: the stream relies on it
                self.failed += len(items)
                _log.exception("dmon output %s failed", self.name)
            finally:
                self.completed += len(items)
                for _ in items:
                    q.task_done()

    def _deliver(self, events: list) -> None:
        parts = []
        for e in events:
            try:
                parts.append(wire.encode_event(e))
            except (TypeError, ValueError) as exc:
                self.failed += 1
                _log.error("dmon output %s: cannot encode %r: %s", self.name, e, exc)
        if not parts:
            return
        payload = wire.encode_encoded(parts)
        fresh = self.client.sock is None
        while not self._stop.is_set():
            try:
                reply = self.client.request(payload)
            except (OSError, wire.WireError) as exc:
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self.errors == 1 or self.errors % 100 == 0:
                    _log.warning("dmon output %s: %s (%d errors so far); retrying",
                                self.name, self.last_error, self.errors)
                if not fresh:
                    fresh = True  # a kept connection may have gone stale: retry at once
                    continue
                self._backoff = min(self.max_backoff, self._backoff * 2 or 0.1)
                self._stop.wait(self._backoff)
                continue
            self._backoff = 0.0
            if reply["ok"]:
                self.sent += len(parts)
            else:
                self.failed += len(parts)
                self.last_error = reply["error"] or "server replied ok=false"
                _log.error("dmon output %s: server refused %d events: %s", self.name,
                          len(parts), self.last_error)
            return
        self.failed += len(parts)


class _Forward(Output):
    kind = "forward"

    def __init__(self, host: str, port: int, batch: int, interval: float, queue: int,
                 timeout: float) -> None:
        super().__init__()
        if not isinstance(host, str) or not host:
            raise ValueError(f"forward() needs a host name, got {host!r}")
        self.host, self.port = host, int(port)
        self.batch, self.interval, self.timeout = batch, interval, timeout
        name = f"forward {host}:{self.port}"
        self.worker = self.rt.worker(
            name, queue, lambda n, size: ForwardWorker(n, size, host, self.port, batch,
                                                       interval, timeout))

    def send(self, event: Any) -> None:
        captured = self.rt.captured
        if captured is not None:
            captured.append((self.kind, event))
            return
        submit = self.worker.submit
        if isinstance(event, dict):
            submit(event)
        else:
            for e in event:
                submit(e)

    def counters(self) -> dict[str, int]:
        """``sent``, ``failed``, ``dropped``, ``errors``, ``queued`` (see :class:`ForwardWorker`)."""
        return self.worker.counters()

    def params(self) -> dict:
        return {"host": self.host, "port": self.port, "batch": self.batch,
                "interval": self.interval}


def forward(host: str, port: int = 5555, *, batch: int = 100, interval: float = 1.0,
            queue: int = 10000, timeout: float = 5.0) -> Stream:
    """Forward each event (each event of a list) to another dmon or Riemann over TCP in
    Riemann's protobuf protocol, from a background thread: events are queued (at most
    ``queue``; more are dropped and counted), sent in batches of up to ``batch`` events
    or every ``interval`` seconds, each batch acknowledged by the server. A lost
    connection is reopened with a backoff capped at 5 s; the stream never blocks or
    raises. ``counters()`` gives sent/failed/dropped/errors/queued. Forwards to one
    ``host:port`` in a runtime share one queue and connection (the first one's options).

    Under :mod:`dmon.testing` nothing is sent: the events land in ``captured`` as
    ``("forward", event)``.

    >>> s = forward("riemann.example.com", batch=50)
    >>> s.params()
    {'host': 'riemann.example.com', 'port': 5555, 'batch': 50, 'interval': 1.0}
    """
    return _Forward(host, port, batch, interval, queue, timeout)
