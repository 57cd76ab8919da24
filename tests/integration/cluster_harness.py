"""Helpers for cluster tests: start dmond nodes that know each other, load keys, read indexes."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path

from conftest import start_node
from riemann_wire import Connection, make_event, msg_with

RECORDER = """
import json, os
from dmon import index
_out = open(os.environ["DMON_TEST_OUT"], "a", buffering=1)

class _Rec:
    def send(self, event):
        _out.write(json.dumps({"host": event.get("host"), "seq": event.get("metric")}) + "\\n")

stream = index()
record_stream = _Rec()
"""


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def http_get(node, path, timeout=10):
    with urllib.request.urlopen(f"http://127.0.0.1:{node.http}{path}", timeout=timeout) as r:
        return r.status, r.read().decode()


def ready(node):
    try:
        return http_get(node, "/readyz", timeout=5)[0] == 200
    except OSError:
        return False


def cluster_info(node):
    return json.loads(http_get(node, "/cluster")[1])


def local_hosts(node):
    """Hosts in this node's own index (no scatter)."""
    _, body = http_get(node, "/index?query=true&scope=local")
    return {e["host"] for e in json.loads(body)}


def cluster_hosts(node, query="true"):
    """Hosts a TCP query on this node returns (cluster-wide), with duplicates counted."""
    with Connection(node.tcp) as c:
        reply = c.request(msg_with(query=query))
    assert reply.ok, reply.error
    hosts = [e.host for e in reply.events]
    assert len(hosts) == len(set(hosts)), "a key answered twice"
    return set(hosts)


def load_keys(node, n, prefix="key", metric=1, batch=100):
    """Sends n keys to one node in acked batches; returns their hosts."""
    hosts = [f"{prefix}-{i}" for i in range(n)]
    with Connection(node.tcp) as c:
        for start in range(0, n, batch):
            events = [make_event(host=h, service="svc", ttl=3600.0, metric_sint64=metric)
                      for h in hosts[start:start + batch]]
            reply = c.request(msg_with(events))
            assert reply.ok, reply.error
    return set(hosts)


def wait_until(fn, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def settle(fn, timeout, what):
    """Polls fn (None when satisfied, else a problem) until it is satisfied or `timeout`."""
    deadline = time.monotonic() + timeout
    problem = "not checked"
    while time.monotonic() < deadline:
        problem = fn()
        if problem is None:
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}: {problem}")


class Cluster:
    """Nodes node-0..node-(n-1) on fixed peer ports, each with its own work and data dir."""

    def __init__(self, tmp_path: Path, size: int, extra_args=()):
        self.tmp = tmp_path
        self.ports = free_ports(size)
        self.extra = list(extra_args)
        self.nodes: dict[int, object] = {}

    def peers(self, members):
        return ",".join(f"127.0.0.1:{self.ports[i]}" for i in members)

    def start(self, i, members, module=RECORDER):
        node = start_node(self.tmp / f"n{i}", module, data_dir=self.tmp / f"n{i}" / "data",
                          args=["--peer-port", str(self.ports[i]), "--node-id", f"node-{i}",
                                "--peers", self.peers(members), "--reap-interval", "1",
                                "--rebalance-interval", "2", *self.extra])
        self.nodes[i] = node
        return node

    def live(self):
        return [n for n in self.nodes.values() if n.proc.poll() is None]

    def wait_members(self, count, timeout=60):
        wait_until(lambda: all(ready(n) for n in self.live()), timeout, "readiness")
        for n in self.live():
            wait_until(lambda: len(cluster_info(n)["members"]) == count, timeout,
                       f"{count} members on {n.http}")

    def stop_all(self):
        for n in self.nodes.values():
            n.stop()


class ChangesCluster(Cluster):
    """A cluster running `module`, whose streams append each change they see as a JSON line
    to their node's seen.jsonl (DMON_TEST_OUT); on the native engine, or on Python with
    `native = False`. Stream checkpoints every second, no instrumentation events (they
    would pass the streams too)."""

    module = ""
    # The fields of each change line that `changes()` returns, in order.
    fields = ("host", "state")
    native = True

    def start(self, i, members):
        env = None if self.native else {"DMON_NATIVE_STREAMS": "0"}
        node = start_node(self.tmp / f"n{i}", self.module, data_dir=self.tmp / f"n{i}" / "data",
                          env=env, args=["--peer-port", str(self.ports[i]), "--node-id", f"node-{i}",
                                         "--peers", self.peers(members),
                                         "--rebalance-interval", "2", "--checkpoint-interval", "1",
                                         "--instrumentation-interval", "0"])
        self.nodes[i] = node
        return node

    def changes(self):
        """Every change any node's streams wrote so far, as tuples of `fields`."""
        out = []
        for i in range(len(self.ports)):
            path = self.tmp / f"n{i}" / "seen.jsonl"
            if path.exists():
                out += [tuple(d[f] for f in self.fields)
                        for d in map(json.loads, path.read_text().splitlines())]
        return out


# The ring, as actors/ownership.cpp and actors/ring.cpp compute it (pinned there by unit
# tests): tests use it to know which node owns a key that is not an index entry (a regroup
# key), and check it against the index for keys that are.
_MASK = (1 << 64) - 1
_FNV_BASIS, _FNV_PRIME = 1469598103934665603, 1099511628211


def _finalize(z):
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & _MASK
    return z ^ (z >> 31)


def key_hash(*parts):
    """ownership's hasher over `parts` (None: absent): key_hash(host, service) is an event's
    key; key_hash(service) the key of regroup(["service"])."""
    h = _FNV_BASIS
    for part in parts:
        h = ((h ^ (0 if part is None else 1)) * _FNV_PRIME) & _MASK
        for c in (part or "").encode():
            h = ((h ^ c) * _FNV_PRIME) & _MASK
        h = (h * _FNV_PRIME) & _MASK  # the part's terminating 0
    return _finalize(h)


def owner(hash_, members):
    """The ring's owner of a key hash among node ids (highest weight; ties to the first id)."""
    def weight(m):
        h = _FNV_BASIS
        for c in m.encode():
            h = ((h ^ c) * _FNV_PRIME) & _MASK
        return _finalize(_finalize(hash_) ^ _finalize(h))
    return max(sorted(members), key=weight)
