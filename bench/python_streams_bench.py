#!/usr/bin/python3
"""ns/event of dmon's stream combinators in plain Python (no server), beside a hand-written
generator doing the same work (issue 4's target: a chain within 2x of it).

    PYTHONPATH=pystreams /usr/bin/python3 bench/python_streams_bench.py [--events N] [--repeat R]

The chain is where('service = "cpu"') -> by("host") -> rate(1) -> index(), fed N events
(half cpu, half mem, 100 hosts, int and float metrics), with the clock moved one second
and due timers run every 10,000 events, so rates flush into the index as in the server.
The hand-written generator filters, forks per host, sums, keeps the last event, checks
expiry like rate does, and its per-host timers index sum/interval with the ttl decay; a
minimal one (filter, sum per host, one timer; not rate's semantics) is shown as a floor.
Each figure is the best of R runs (least disturbed by the machine); single combinators
are measured feeding a no-op sink. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import gc
import math
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pystreams"))

import dmon  # noqa: E402
from dmon import folds  # noqa: E402
from dmon.core import prime  # noqa: E402
from dmon.runtime import Runtime, activate  # noqa: E402
from dmon.testing import FakeClock  # noqa: E402

HOSTS = 100
TICK_EVERY = 10_000


def make_events(n: int) -> list[dict]:
    out = []
    for i in range(n):
        out.append({"host": f"host-{i % HOSTS}", "service": "cpu" if i % 2 == 0 else "mem",
                    "metric": (i % 7) if i % 3 else (i % 7) * 0.5, "state": "ok",
                    "time": 1_000_000.0 + i // TICK_EVERY, "ttl": 60.0})
    return out


def hand_written(rt: Runtime, interval: float = 1.0):
    """The chain's work as one generator: what someone would write without dmon."""
    forks: dict = {}
    index = rt.index

    def make_tick(st: list):
        def tick() -> None:
            if st[2] < rt.now():  # the last event's time + ttl passed: stop, as rate does
                st[3].cancel()
                st[3] = None
                return
            total, st[0] = st[0], 0
            e = dict(st[1]) if st[1] is not None else {}
            e["metric"] = total / interval
            e["time"] = rt.now()
            if e.get("ttl") is not None:
                e["ttl"] = e["ttl"] - interval
            st[1] = e
            index(e)
        return tick

    while True:
        e = yield
        if e.get("service") != "cpu":
            continue
        host = e.get("host")
        st = forks.get(host)
        if st is None:
            st = forks[host] = [0, None, math.inf, None]
        m = e.get("metric")
        if m is not None:
            ttl = e.get("ttl")
            if ttl is not None:
                last = dict(e)
                last["ttl"] = ttl + interval
            else:
                last = e
            st[1] = last
            st[0] += m
        t, ttl = e.get("time"), e.get("ttl")
        st[2] = t + ttl if t is not None and ttl is not None else math.inf
        dead = e.get("state") == "expired" or (t is not None and rt.now() - t > (ttl or 60.0))
        if dead:
            if st[3] is not None:
                st[3].cancel()
                st[3] = None
        elif st[3] is None:
            st[3] = rt.every(interval, make_tick(st), interval)


def hand_written_minimal(rt: Runtime, interval: float = 1.0):
    """The least a generator can do for the chain: filter, sum per host, index the rates
    every tick; no ttl, no expiry, no copy of the last event (not Riemann's rate)."""
    sums: dict = {}
    index = rt.index

    def tick() -> None:
        now = rt.now()
        for host, total in sums.items():
            index({"host": host, "service": "cpu", "metric": total / interval, "time": now})
            sums[host] = 0

    rt.every(interval, tick)
    while True:
        e = yield
        if e.get("service") == "cpu":
            host = e.get("host")
            sums[host] = sums.get(host, 0) + (e.get("metric") or 0)


class _Sink:
    def send(self, e):
        pass


def measure(build, events: list[dict], repeat: int) -> tuple[float, int]:
    """Best ns/event over ``repeat`` fresh runs; also how many events reached the index."""
    best = math.inf
    indexed = 0
    for _ in range(repeat):
        clock = FakeClock(events[0]["time"])
        rt = activate(Runtime(clock=clock))
        stream = prime(build())
        send = stream.send
        gc.collect()
        t0 = time.perf_counter_ns()
        for i in range(0, len(events), TICK_EVERY):
            for e in events[i:i + TICK_EVERY]:
                send(e)
            clock.set(clock.t + 1)
            rt.tick()
        dt = time.perf_counter_ns() - t0
        best = min(best, dt / len(events))
        indexed = len(rt.indexed())
    return best, indexed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    events = make_events(args.events)
    D = dmon
    chain = lambda: D.where('service = "cpu"', D.by("host", D.rate(1, D.index())))  # noqa: E731
    hand = lambda: hand_written(dmon.current())  # noqa: E731
    sink = _Sink
    singles = [
        ('where(\'service = "cpu"\')', lambda: D.where('service = "cpu"', sink())),
        ("where(lambda)", lambda: D.where(lambda e: e.get("service") == "cpu", sink())),
        ('by("host")', lambda: D.by("host", D.sdo(sink()))),
        ("rate(1)", lambda: D.rate(1, sink())),
        ("index()", lambda: D.index()),
        ('with_("state", "x")', lambda: D.with_("state", "x", sink())),
        ("changed_state()", lambda: D.changed_state(sink())),
        ("smap(f)", lambda: D.smap(lambda e: e, sink())),
        ("fixed_time_window(5)", lambda: D.fixed_time_window(5, D.smap(folds.mean, sink()))),
        ("coalesce(1)", lambda: D.coalesce(1, sink())),
        ("sink alone (call cost)", lambda: sink()),
    ]
    t_chain, n_chain = measure(chain, events, args.repeat)
    t_hand, n_hand = measure(hand, events, args.repeat)
    t_min, _ = measure(lambda: hand_written_minimal(dmon.current()), events, args.repeat)
    if n_chain != n_hand:
        print(f"warning: chain indexed {n_chain} keys, hand-written {n_hand}", file=sys.stderr)
    print(f"python {platform.python_version()} on {platform.machine()}, {args.events} events, "
          f"best of {args.repeat}\n")
    print("| stream | ns/event |")
    print("|---|---:|")
    print(f"| where → by → rate → index (dmon) | {t_chain:.0f} |")
    print(f"| the same, hand-written generator | {t_hand:.0f} |")
    print(f"| **ratio** | **{t_chain / t_hand:.2f}×** |")
    print(f"| a minimal generator (no ttl, no expiry: not rate's semantics) | {t_min:.0f} |")
    print(f"| ratio to the minimal one | {t_chain / t_min:.2f}× |")
    for name, build in singles:
        t, _ = measure(build, events, args.repeat)
        print(f"| {name} | {t:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
