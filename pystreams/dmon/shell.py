"""`python3 -m dmon.shell [module] [plain|ipython|bpython]`: try a stream module by hand on a
controlled clock; `python3 -m dmon.shell --connect HOST:PORT [plain|ipython|bpython]` to talk
to a running dmon (or Riemann) node; `python3 -m dmon.shell --check module` to lint a module
(import it, list its root streams).

The interactive shell is a Python console with the whole ``dmon`` vocabulary imported and
these helpers (``shell_help()`` lists them)::

    load("mystreams")          a fresh instance of the module; its root streams get events
    inject({"host": "a", "service": "cpu", "metric": 0.9})    (or several, or host=..., ...)
    tick(5)                    move the clock 5 s, firing due timers (rate, throttle, ...)
    expire()                   reap the index: expired events go back into the roots
    indexed()                  everything in the index;  query('service =~ "cpu%"')
    outputs()                  what network outputs would have sent (nothing is sent)
    taps(), published("topic"), history('host = "a"', start, end)
    roots()                    the root streams with their describe() trees
    root(stream, "name")       add a stream built here as a root;  now(), rt, harness
    lookup(host, service), advance_to(t), reload()    (dmon's expire(event, now): dmon.expire)

The clock starts at the current second (``--start T`` to choose) and only moves with
``tick``/``advance_to`` or an injected event's later ``time``. An event without ``time``
gets the clock's time, as dmond's codecs give it the arrival time. Exceptions in streams
are printed with their traceback and the streams go on, as in the server.
"""

from __future__ import annotations

import argparse
import code
import json
import logging
import os
import pprint
import sys
import time as _time
import traceback
from typing import Any, Iterable, Mapping, Sequence, TextIO

from .core import Stream, describe
from .events import Event, is_number
from .loader import _close_quietly
from .runtime import activate
from .testing import Harness

__all__ = ["Shell", "RemoteShell", "run_console", "parse_address", "format_tree", "check", "main"]


def format_tree(d: Mapping[str, Any], indent: str = "  ", depth: int = 0) -> list[str]:
    """A :func:`dmon.describe` tree as indented lines, one stream per line.

    >>> from dmon import where, rate, index
    >>> print("\\n".join(format_tree(describe(where('service = "a"', rate(5, index()))))))
    where query='service = "a"'
      rate interval=5
        index
    """
    pad = indent * depth
    params = []
    branches: list[tuple[str | None, list]] = []
    for k, v in d.items():
        if k == "stream":
            continue
        if k == "children" and isinstance(v, list):
            branches.append((None, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) and "stream" in x for x in v):
            branches.append((k, v))
        elif k == "else" and v == []:
            continue
        elif isinstance(v, dict) and "stream" in v:
            branches.append((k, [v]))
        else:
            params.append(f"{k}={v!r}")
    lines = [pad + " ".join([str(d.get("stream", "?")), *params])]
    for label, kids in branches:
        if label is None:
            for c in kids:
                lines += format_tree(c, indent, depth + 1)
        else:
            lines.append(pad + indent + f"{label}:")
            for c in kids:
                lines += format_tree(c, indent, depth + 2)
    return lines


def _module_arg(arg: str) -> str:
    """A module name, or a path to a .py file whose directory then goes on sys.path."""
    if arg.endswith(".py") or os.sep in arg:
        path = os.path.abspath(arg)
        sys.path.insert(0, os.path.dirname(path))
        return os.path.splitext(os.path.basename(path))[0]
    return arg


class Shell:
    """The state and helpers behind the interactive shell; usable from Python too.

    >>> sh = Shell(start=0, out=sys.stdout)
    >>> sh.root(sh.namespace["rate"](1, sh.namespace["index"]()), "rate_stream")
    >>> sh.inject({"host": "a", "service": "req", "metric": 3}); sh.tick(1)
    >>> [(e["service"], e["metric"]) for e in sh.indexed()]
    [('req', 3.0)]
    """

    def __init__(self, start: float | None = None, *, config: Mapping[str, Any] | None = None,
                 out: TextIO | None = None) -> None:
        self.out = out if out is not None else sys.stdout
        start = float(int(_time.time())) if start is None else float(start)
        self.harness = Harness(start, config=config, on_exception=self._on_exception)
        self.rt = self.harness.rt
        self.module: str | None = None
        self._seen_captured = 0
        self._seen_taps: dict[str, int] = {}
        self._seen_published: dict[str, int] = {}
        activate(self.rt)
        self.namespace = self._namespace()

    # -- what the console sees ------------------------------------------------------------

    def _namespace(self) -> dict[str, Any]:
        import dmon
        ns: dict[str, Any] = {"__name__": "__console__", "__doc__": None, "dmon": dmon}
        ns.update({n: getattr(dmon, n) for n in dmon.__all__})
        for name in ("load", "reload", "inject", "tick", "advance_to", "expire", "indexed",
                     "query", "lookup", "outputs", "taps", "published", "history", "roots",
                     "root", "now", "shell_help"):
            ns[name] = getattr(self, name)
        ns["rt"] = self.rt
        ns["harness"] = self.harness
        return ns

    def _print(self, *args: Any) -> None:
        print(*args, file=self.out)

    def _on_exception(self, where: str, event: Event | None, exc: BaseException) -> None:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
        self._print(f"! {where} raised on {_fmt(event)}:\n{tb}")

    def _report(self) -> None:
        """Print what outputs, taps and publish streams received since the last report."""
        cap = self.rt.captured or []
        for kind, e in cap[self._seen_captured:]:
            self._print(f"  {kind} <- {_fmt(e)}")
        self._seen_captured = len(cap)
        for name, events in (self.rt.taps or {}).items():
            for e in events[self._seen_taps.get(name, 0):]:
                self._print(f"  tap {name} <- {_fmt(e)}")
            self._seen_taps[name] = len(events)
        for topic in self.rt.topics():
            events = self.rt.published(topic)
            seen = min(self._seen_published.get(topic, 0), len(events))
            for e in events[seen:]:
                self._print(f"  publish {topic} <- {_fmt(e)}")
            self._seen_published[topic] = len(events)

    # -- helpers --------------------------------------------------------------------------

    def shell_help(self) -> None:
        """List the shell's helpers."""
        import textwrap
        self._print(textwrap.dedent(__doc__.split("::", 1)[1].split("The clock", 1)[0]).strip("\n"))

    def load(self, module: str) -> None:
        """Load a fresh instance of a stream module (a name on sys.path or a .py path);
        its root streams replace the current ones (whose timers stop)."""
        module = _module_arg(module)
        for name, s in self.rt.roots:
            _close_quietly(s, name, self.rt)
        self.rt.roots = []
        try:
            self.harness.load(module)
        finally:
            activate(self.rt)
        self.module = module
        self._print(f"loaded {module}: " + ", ".join(n for n, _ in self.rt.roots))

    def reload(self) -> None:
        """Load the current module again (after you edited it); the index stays."""
        if self.module is None:
            raise RuntimeError("no module loaded yet: load('mystreams')")
        self.load(self.module)

    def root(self, stream: Any, name: str = "shell_stream") -> None:
        """Add ``stream`` (built in the shell) as a root: injected events reach it."""
        from .core import prime
        self.rt.roots = [(n, s) for n, s in self.rt.roots if n != name] + [(name, prime(stream))]

    def roots(self) -> None:
        """Print the root streams with their describe() trees."""
        if not self.rt.roots:
            self._print("no root streams: load('mystreams') or root(stream)")
        for name, s in self.rt.roots:
            self._print(name)
            self._print("\n".join(format_tree(describe(s), depth=1)))

    def inject(self, *events: Any, **fields: Any) -> None:
        """Send events through the root streams, as the server does: ``inject({...})``,
        ``inject(e1, e2)``, ``inject([e1, e2])`` or ``inject(host="a", metric=1)``. An event
        without time gets now; a later time moves the clock there first (firing timers)."""
        batch: list[Event] = []
        for e in events:
            batch.extend(e if isinstance(e, (list, tuple)) else [e])
        if fields:
            batch.append(dict(fields))
        if not self.rt.roots:
            self._print("no root streams: load('mystreams') or root(stream) first")
        for e in batch:
            if not isinstance(e, Mapping):
                raise TypeError(f"an event is a dict, got {e!r}")
            e = dict(e)
            if not is_number(e.get("time")):
                e["time"] = self.harness.now
            self.harness.inject([e])
        self._report()

    def tick(self, seconds: float = 1) -> None:
        """Move the clock ``seconds`` ahead, firing due timers in order."""
        self.harness.advance(seconds)
        self._report()

    def advance_to(self, t: float) -> None:
        """Move the clock to unix time ``t`` (never backwards), firing due timers."""
        self.harness.advance_to(t)
        self._report()

    def now(self) -> float:
        """The shell's clock."""
        return self.harness.now

    def expire(self) -> list[Event]:
        """Reap the index now; returns the expired events (also sent into the roots)."""
        out = self.harness.expire()
        self._report()
        return out

    def indexed(self) -> list[Event]:
        """Everything in the index."""
        return self.rt.indexed()

    def query(self, q: str = "true") -> list[Event]:
        """Index events matching a Riemann query string, e.g. ``query('state != "ok"')``."""
        return self.rt.search(q)

    def lookup(self, host: Any, service: Any) -> Event | None:
        """The indexed event for ``(host, service)``."""
        return self.rt.lookup(host, service)

    def outputs(self, clear: bool = False) -> list[tuple[str, Any]]:
        """``(output kind, event)`` for everything network outputs would have sent."""
        cap = list(self.rt.captured or [])
        if clear and self.rt.captured is not None:
            self.rt.captured.clear()
            self._seen_captured = 0
        return cap

    def taps(self) -> dict[str, list]:
        """Events seen by each tap(), by name."""
        return self.rt.taps or {}

    def published(self, topic: str) -> list[Event]:
        """Events publish(topic) streams published."""
        return self.rt.published(topic)

    def history(self, query: Any = None, start: float | None = None, end: float | None = None) -> list[Event]:
        """Events store() streams stored, ``start <= time < end``, matching ``query``."""
        return self.rt.history(query, start, end)

    # -- the console ------------------------------------------------------------------------

    def interact(self, banner: str | None = None, console: str = "plain") -> None:
        """Run the console (``plain``, ``ipython`` or ``bpython``) until end of input."""
        if banner is None:
            banner = (f"dmon shell: the dmon vocabulary is imported; clock at {self.harness.now:g}. "
                      f"shell_help() lists the helpers; end with Ctrl-D.")
        run_console(self.namespace, banner, console, self.out)


CONSOLES = ("plain", "ipython", "bpython")
_INSTALL = {"ipython": "IPython (apt install ipython3, or pip install ipython)",
            "bpython": "bpython (apt install bpython3, or pip install bpython)"}


def run_console(ns: dict, banner: str, kind: str = "plain", out: TextIO | None = None) -> str:
    """Run an interactive console on namespace ``ns`` until end of input and return the
    kind that ran: ``ipython`` or ``bpython`` when asked for and importable, else (with
    a message naming the package to install) the standard library's console."""
    out = out if out is not None else sys.stdout
    if kind not in CONSOLES:
        raise ValueError(f"console must be one of {', '.join(CONSOLES)}, got {kind!r}")
    if kind == "ipython":
        try:
            from IPython import embed  # type: ignore[import-not-found]
        except ImportError:
            print(f"dmon.shell: ipython is not installed; install {_INSTALL['ipython']}. "
                  f"Using the plain console.", file=sys.stderr)
        else:
            embed(user_ns=ns, banner1=banner + "\n", colors="neutral")
            return "ipython"
    elif kind == "bpython":
        try:
            import bpython  # type: ignore[import-not-found]
        except ImportError:
            print(f"dmon.shell: bpython is not installed; install {_INSTALL['bpython']}. "
                  f"Using the plain console.", file=sys.stderr)
        else:
            bpython.embed(locals_=ns, banner=banner)
            return "bpython"
    _plain_console(ns, banner, out)
    return "plain"


def _plain_console(ns: dict, banner: str, out: TextIO) -> None:
    console = code.InteractiveConsole(ns)
    previous = sys.displayhook
    prompts = getattr(sys, "ps1", None), getattr(sys, "ps2", None)
    sys.displayhook = _displayhook(ns, out)
    if not sys.stdin.isatty():
        # Scripted input (a pipe, a file): no prompts in the output, as python3 itself does.
        sys.ps1, sys.ps2 = "", ""
    else:
        try:
            import readline
            import rlcompleter
            readline.set_completer(rlcompleter.Completer(ns).complete)
            readline.parse_and_bind("tab: complete")
        except ImportError:
            pass
    try:
        console.interact(banner=banner, exitmsg="")
    finally:
        sys.displayhook = previous
        if prompts[0] is None:
            del sys.ps1, sys.ps2
        else:
            sys.ps1, sys.ps2 = prompts


class RemoteShell:
    """The connected shell: a :class:`dmon.wire.Client` to a running node and the
    helpers the console offers (``shell_help()`` lists them)::

        send({"host": "a", "service": "cpu", "metric": 0.9})   or send(host="a", ...),
                                   or several events: the server's reply {"ok": ..., "error": ...}
        query('service = "cpu"')   events in the node's index matching a Riemann query
        client                     the dmon.wire.Client;  reconnect(), close()

    Events without ``time`` get the node's arrival time, as with any Riemann client.

    >>> sh = RemoteShell("127.0.0.1", 9); sh.client
    <dmon Client 127.0.0.1:9 not connected>
    """

    def __init__(self, host: str, port: int, *, timeout: float = 5.0,
                 out: TextIO | None = None) -> None:
        from .wire import Client
        self.out = out if out is not None else sys.stdout
        self.client = Client(host, port, timeout=timeout)
        self.namespace = self._namespace()

    def _namespace(self) -> dict[str, Any]:
        import dmon
        ns: dict[str, Any] = {"__name__": "__console__", "__doc__": None, "dmon": dmon}
        ns.update({n: getattr(dmon, n) for n in dmon.__all__})
        for name in ("send", "query", "reconnect", "close", "shell_help"):
            ns[name] = getattr(self, name)
        ns["client"] = self.client
        return ns

    def shell_help(self) -> None:
        """List the connected shell's helpers."""
        import textwrap
        print(textwrap.dedent(type(self).__doc__.split("::", 1)[1].split("Events without", 1)[0]).strip("\n"),
              file=self.out)

    def send(self, *events: Any, **fields: Any) -> dict[str, Any]:
        """Send events in one message: ``send({...})``, ``send(e1, e2)``, ``send([e1, e2])``
        or ``send(host="a", metric=1)``; returns ``{"ok": True}`` or ``{"ok": False,
        "error": "..."}`` as the server replied."""
        batch: list[Event] = []
        for e in events:
            batch.extend(e if isinstance(e, (list, tuple)) else [e])
        if fields:
            batch.append(dict(fields))
        for e in batch:
            if not isinstance(e, Mapping):
                raise TypeError(f"an event is a dict, got {e!r}")
        if not batch:
            raise TypeError("send() needs at least one event: send(host=..., service=..., metric=...)")
        reply = self.client.send(batch)
        out: dict[str, Any] = {"ok": bool(reply["ok"])}
        if reply["error"]:
            out["error"] = reply["error"]
        return out

    def query(self, q: str = "true") -> list[Event]:
        """Events in the node's index matching Riemann query ``q`` (``true``: all)."""
        return self.client.query(q)

    def reconnect(self) -> None:
        """Close the connection and open a new one."""
        self.client.close()
        self.client.connect()

    def close(self) -> None:
        """Close the connection (the next send or query reopens it)."""
        self.client.close()

    def interact(self, banner: str | None = None, console: str = "plain") -> None:
        """Run the console until end of input, then close the connection."""
        if banner is None:
            h, p = self.client.address
            banner = (f"dmon shell connected to {h}:{p}: the dmon vocabulary is imported; "
                      f"send(...) and query(...) talk to the node. shell_help() lists the "
                      f"helpers; end with Ctrl-D.")
        try:
            run_console(self.namespace, banner, console, self.out)
        finally:
            self.client.close()


def parse_address(s: str, default_port: int = 5555) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``, or ``HOST`` alone for port 5555) as (host, port).

    >>> parse_address("localhost:5556"), parse_address("[::1]:7"), parse_address("node-1")
    (('localhost', 5556), ('::1', 7), ('node-1', 5555))
    """
    host, port = s, default_port
    if s.startswith("["):
        end = s.index("]")
        host, rest = s[1:end], s[end + 1:]
        if rest.startswith(":"):
            port = int(rest[1:])
    elif s.count(":") == 1:
        host, p = s.split(":")
        port = int(p)
    if not host:
        raise ValueError(f"no host in {s!r}: write HOST:PORT")
    return host, port


def _fmt(e: Any) -> str:
    try:
        return json.dumps(e, sort_keys=False, default=repr)
    except (TypeError, ValueError):
        return repr(e)


def _displayhook(ns: dict, out: TextIO) -> Any:
    def hook(value: Any) -> None:
        if value is None:
            return
        ns["_"] = value
        pprint.pprint(value, stream=out, width=100, sort_dicts=False)
    return hook


def check(module: str, *, out: TextIO | None = None, as_json: bool = False) -> int:
    """Import ``module`` as the server would and print its root streams with their
    describe() trees; 0 when it loads, 1 (with the traceback on stderr) when it does not."""
    out = out if out is not None else sys.stdout
    name = _module_arg(module)
    h = Harness()
    try:
        roots = h.load(name)
        trees = [(n, describe(s)) for n, s in roots]
    except BaseException as exc:  # noqa: BLE001 - a linter reports SystemExit too
        if isinstance(exc, KeyboardInterrupt):
            raise
        traceback.print_exc()
        print(f"dmon.shell --check: {name} does not load: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        for n, s in h.rt.roots:
            _close_quietly(s, n, h.rt)
    if as_json:
        print(json.dumps({n: t for n, t in trees}, indent=2, default=repr), file=out)
        return 0
    print(f"{name}: {len(trees)} root stream{'s' if len(trees) != 1 else ''}", file=out)
    for n, t in trees:
        print(n, file=out)
        print("\n".join(format_tree(t, depth=1)), file=out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python3 -m dmon.shell",
        description="An interactive shell to try dmon stream modules on a controlled clock, "
                    "to talk to a running node (--connect), or --check to lint a module.")
    p.add_argument("args", nargs="*", metavar="[module] [plain|ipython|bpython]",
                   help="stream module to load (name on PYTHONPATH or path to a .py file), "
                        "and/or the console: plain (default), ipython or bpython")
    p.add_argument("--connect", metavar="HOST:PORT",
                   help="connect to a running dmon or Riemann node (TCP, protobuf): "
                        "send(...) events and query(...) its index")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="with --connect: seconds to wait for the node (default 5)")
    p.add_argument("--check", metavar="MODULE",
                   help="import MODULE, print its root streams and their trees, exit 1 if it fails")
    p.add_argument("--json", action="store_true", help="with --check: print the trees as JSON")
    p.add_argument("--start", type=float, default=None,
                   help="the clock's start, unix seconds (default: now)")
    p.add_argument("-q", "--quiet", action="store_true", help="no banner")
    args = p.parse_args(argv)
    if args.check:
        return check(args.check, as_json=args.json)
    console, module = "plain", None
    for a in args.args:
        if a in CONSOLES:
            console = a
        elif module is None:
            module = a
        else:
            p.error(f"one module at most (got {module!r} and {a!r}); the console is one of "
                    f"{', '.join(CONSOLES)}")
    if args.connect:
        if module is not None:
            p.error(f"--connect talks to a running node; it loads no module (got {module!r})")
        try:
            host, port = parse_address(args.connect)
        except ValueError as exc:
            p.error(f"--connect {args.connect}: {exc}")
        remote = RemoteShell(host, port, timeout=args.timeout)
        try:
            remote.client.connect()
        except OSError as exc:
            print(f"dmon.shell: cannot connect to {host}:{port}: {exc}. Is dmond running and "
                  f"listening for TCP there (--tcp-port)?", file=sys.stderr)
            return 2
        remote.interact("" if args.quiet else None, console)
        return 0
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(levelname)s %(name)s: %(message)s")
    sh = Shell(args.start)
    if module:
        try:
            sh.load(module)
        except Exception:
            traceback.print_exc()
            print(f"dmon.shell: {module} does not load; fix it and load({module!r}) "
                  f"again", file=sys.stderr)
    sh.interact("" if args.quiet else None, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
