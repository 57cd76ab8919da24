"""Fixtures that start real dmond processes on free loopback ports in temp dirs and always stop them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

sys.path.insert(0, os.environ.get("DMON_TEST_GEN", ""))
sys.path.insert(0, str(Path(__file__).parent))

DMOND = os.environ.get("DMOND", str(Path(__file__).parents[2] / "build" / "dmond"))

# A stream module that records every event it sees, one JSON line each, so tests can
# assert exactly what the streams received. DMON_TEST_OUT names the file.
RECORDER = """
import json, os
from dmon import index

_out = open(os.environ["DMON_TEST_OUT"], "a", buffering=1)

class _Recorder:
    def send(self, event):
        _out.write(json.dumps(event, sort_keys=True) + "\\n")

record_stream = _Recorder()
index_stream = index()
"""


class Node:
    """A running dmond: its address and ports, its log, and what its streams recorded."""

    def __init__(self, proc: subprocess.Popen, workdir: Path, ready: str, log_path: Path):
        self.proc = proc
        self.workdir = workdir
        self.log_path = log_path
        fields = dict(part.split("=", 1) for part in ready.split()[2:])
        # The address every listener is bound to (--bind; 127.0.0.1 unless a test gave one).
        self.host = fields["tcp"].rsplit(":", 1)[0]
        self.tcp = int(fields["tcp"].rsplit(":", 1)[1])
        self.udp = int(fields["udp"].rsplit(":", 1)[1])
        self.json_udp = int(fields["json-udp"].rsplit(":", 1)[1])
        self.http = int(fields["http"].rsplit(":", 1)[1])

    @property
    def out_path(self) -> Path:
        return self.workdir / "seen.jsonl"

    def seen(self) -> list[dict]:
        if not self.out_path.exists():
            return []
        return [json.loads(line) for line in self.out_path.read_text().splitlines() if line]

    def wait_seen(self, count: int, timeout: float = 15.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.seen()
            if len(seen) >= count:
                return seen
            time.sleep(0.02)
        return self.seen()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern: str, timeout: float = 15.0) -> re.Match | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.log())
            if m:
                return m
            time.sleep(0.05)
        return None

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_node(workdir: Path, module_source: str | None = RECORDER, args: list[str] = (),
               module_name: str = "test_streams", env: dict | None = None,
               expect_ready: bool = True, timeout: float = 30.0, data_dir: Path | None = None):
    """Starts dmond in `workdir`; returns a Node, or the finished Popen when not expect_ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    if module_source is not None:
        (workdir / f"{module_name}.py").write_text(textwrap.dedent(module_source))
    log_path = workdir / "dmond.log"
    full_env = dict(os.environ)
    full_env["DMON_TEST_OUT"] = str(workdir / "seen.jsonl")
    full_env.update(env or {})
    cmd = [DMOND, "--tcp-port", "0", "--udp-port", "0", "--json-udp-port", "0", "--http-port", "0",
           "--data-dir", str(data_dir or workdir / "data"), "--python-path", str(workdir),
           "--streams", module_name, "--stats-interval", "0", *args]
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, env=full_env, text=True,
                            cwd=workdir)
    if not expect_ready:
        proc.wait(timeout)
        return proc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("dmond ready:"):
            # Keep draining stdout so the server never blocks writing to it.
            import threading
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return Node(proc, workdir, line.strip(), log_path)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    proc.wait()
    raise RuntimeError(f"dmond did not become ready:\n{log_path.read_text()}")


@pytest.fixture
def node_factory(tmp_path):
    nodes: list[Node] = []

    def make(module_source: str | None = RECORDER, args=(), **kw) -> Node:
        n = start_node(tmp_path / f"node{len(nodes)}", module_source, list(args), **kw)
        nodes.append(n)
        return n

    yield make
    for n in nodes:
        n.stop()


@pytest.fixture
def node(node_factory) -> Node:
    return node_factory()
