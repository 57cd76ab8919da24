"""Helpers for cluster tests: start dmond nodes that know each other, load keys, read indexes."""

from __future__ import annotations

import json
import os
import random
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


def loopback_addresses(n):
    """`n` loopback addresses for one test cluster, 127.X.Y.Z to 127.X.Y.(Z+n-1) with X, Y
    and Z random (Linux routes all of 127/8 to lo). Each node binds every listener on its own
    address (--bind), so nothing but that node takes ports there: the machine's outgoing
    connections leave from 127.0.0.1, and another test (ctest -j2) picks other addresses, so a
    peer port chosen before the node starts is still free when it does."""
    rng = random.SystemRandom()
    x, y, z = rng.randint(1, 254), rng.randint(0, 255), rng.randint(1, 254 - n)
    return [f"127.{x}.{y}.{z + i}" for i in range(n)]


def free_port(host):
    """A TCP port free on `host` now (nothing else binds there; see loopback_addresses)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def cluster_endpoints(n):
    """(address, peer port) of each of `n` nodes of one cluster, on addresses of their own."""
    return [(h, free_port(h)) for h in loopback_addresses(n)]


def peer_args(endpoints, i, members=None):
    """dmond flags for node `i` of `endpoints`: its address and cluster port, its node id
    (node-i) and the peers `members` (default: every node)."""
    members = range(len(endpoints)) if members is None else members
    host, port = endpoints[i]
    peers = ",".join(f"{endpoints[m][0]}:{endpoints[m][1]}" for m in members)
    return ["--bind", host, "--peer-port", str(port), "--node-id", f"node-{i}", "--peers", peers]


def http_get(node, path, timeout=10):
    with urllib.request.urlopen(f"http://{node.host}:{node.http}{path}", timeout=timeout) as r:
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
    with Connection(node.tcp, node.host) as c:
        reply = c.request(msg_with(query=query))
    assert reply.ok, reply.error
    hosts = [e.host for e in reply.events]
    assert len(hosts) == len(set(hosts)), "a key answered twice"
    return set(hosts)


def load_keys(node, n, prefix="key", metric=1, batch=100):
    """Sends n keys to one node in acked batches; returns their hosts."""
    hosts = [f"{prefix}-{i}" for i in range(n)]
    with Connection(node.tcp, node.host) as c:
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
    """Nodes node-0..node-(n-1), each on a loopback address of its own with a fixed peer port
    (a node that returns gets the same one), its own work and data dir."""

    def __init__(self, tmp_path: Path, size: int, extra_args=()):
        self.tmp = tmp_path
        self.endpoints = cluster_endpoints(size)
        self.extra = list(extra_args)
        self.nodes: dict[int, object] = {}

    @property
    def size(self):
        return len(self.endpoints)

    def start(self, i, members, module=RECORDER):
        node = start_node(self.tmp / f"n{i}", module, data_dir=self.tmp / f"n{i}" / "data",
                          args=[*peer_args(self.endpoints, i, members), "--reap-interval", "1",
                                "--rebalance-interval", "2", *self.extra])
        self.nodes[i] = node
        return node

    def start_first(self, n, **start_args):
        """Starts node-0..node-(n-1), each with all n as members, and waits until every one
        is ready and sees n members."""
        for i in range(n):
            self.start(i, range(n), **start_args)
        self.wait_members(n)

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
                          env=env, args=[*peer_args(self.endpoints, i, members),
                                         "--rebalance-interval", "2", "--checkpoint-interval", "1",
                                         "--instrumentation-interval", "0"])
        self.nodes[i] = node
        return node

    def changes(self):
        """Every change any node's streams wrote so far, as tuples of `fields`."""
        out = []
        for i in range(self.size):
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


class HeldThreads:
    """Stops the threads of process `pid` named `name` (ptrace: PTRACE_SEIZE, then
    PTRACE_INTERRUPT, one thread at a time) while its other threads run on, until `release()`
    (PTRACE_DETACH; also when the test process ends). Only a child of the test process can be
    held. `HeldThreads.refused` says why ptrace is not available here (tests skip then)."""

    _SEIZE, _INTERRUPT, _DETACH, _WALL = 0x4206, 0x4207, 17, 0x40000000

    def __init__(self, pid, name):
        import ctypes
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                                      ctypes.c_void_p]
        self._libc.ptrace.restype = ctypes.c_long
        self.tids = []
        tasks = Path(f"/proc/{pid}/task")
        try:
            for task in sorted(tasks.iterdir()):
                if (task / "comm").read_text().strip() != name:
                    continue
                tid = int(task.name)
                if self._ptrace(self._SEIZE, tid) != 0 or self._ptrace(self._INTERRUPT, tid) != 0:
                    raise OSError(ctypes.get_errno(), f"ptrace of thread {tid} refused")
                self.tids.append(tid)
                os.waitpid(tid, self._WALL)  # until it is stopped
        except BaseException:
            self.release()
            raise

    def _ptrace(self, request, tid):
        return self._libc.ptrace(request, tid, None, None)

    def release(self):
        for tid in self.tids:
            self._ptrace(self._DETACH, tid)
        self.tids = []

    @staticmethod
    def refused():
        """None when this process may ptrace its children, else the reason."""
        pid = os.fork()
        if pid == 0:
            time.sleep(5)
            os._exit(0)
        try:
            HeldThreads(pid, Path(f"/proc/{pid}/comm").read_text().strip()).release()
            return None
        except OSError as e:
            return str(e)
        finally:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
