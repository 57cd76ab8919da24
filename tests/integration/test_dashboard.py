"""The dashboard (GET /) in a real headless Chromium, driven by playwright-core, fed by a
Riemann protobuf client over TCP: rows appear in their state's colour, change colour,
expire, filter by query, and a bad query shows the server's parse error."""

import json
import os
import queue
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from riemann_wire import Connection, make_event, msg_with

CHROMIUM = "/usr/bin/chromium"
HERE = Path(__file__).parent
REPO = HERE.parents[1]
# The build tree's tests/integration folder (DMON_TEST_GEN is its gen/ folder).
BUILD = Path(os.environ.get("DMON_TEST_GEN", str(REPO / "build" / "tests" / "integration" / "gen"))).parent

INDEXING = "from dmon import index\nstream = index()\n"

# The CSS colours of web/style.css, as getComputedStyle reports them.
OK, WARNING, CRITICAL = "rgb(46, 157, 74)", "rgb(224, 161, 0)", "rgb(210, 59, 59)"


def send(node, *events):
    with Connection(node.tcp) as c:
        assert c.request(msg_with([make_event(**e) for e in events])).ok


class Browser:
    """drive.mjs: one JSON command per line in, one JSON answer per line out."""

    def __init__(self, modules: Path):
        self.proc = subprocess.Popen(
            ["node", str(HERE / "browser" / "drive.mjs"), str(modules), CHROMIUM],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            bufsize=1)
        self.lines: queue.Queue = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put, True),
                         daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr.append, False),
                         daemon=True).start()
        self._answer("starting Chromium", timeout=90)

    @staticmethod
    def _pump(stream, sink, mark_end: bool):
        for line in stream:
            sink(line)
        if mark_end:
            sink(None)

    def _answer(self, what: str, timeout: float = 30):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"the browser driver did not answer {what} in {timeout} s; "
                        f"stderr: {''.join(self.stderr)}")
        if line is None:
            pytest.fail(f"the browser driver exited during {what}: {''.join(self.stderr)}")
        answer = json.loads(line)
        if not answer.get("ok"):
            pytest.fail(f"{what}: {answer.get('error')}")
        return answer

    def __call__(self, cmd: str, **args):
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()
        return self._answer(f"{cmd} {args}")

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write('{"cmd": "quit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(20)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def modules():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: the dashboard test needs Debian's chromium "
                    "(deploy/install-deps.sh installs it)")
    dest = BUILD / "browser"
    done = subprocess.run([str(REPO / "tests" / "deploy" / "npm-ci.sh"), str(HERE / "browser"),
                           str(dest)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"npm ci of playwright-core failed:\n{done.stdout}{done.stderr}"
    return dest


@pytest.fixture
def browser(modules):
    b = Browser(modules)
    yield b
    b.close()


def test_static_files_and_traversal(node_factory):
    node = node_factory(INDEXING)
    base = f"http://127.0.0.1:{node.http}"
    for path, kind in [("/", "text/html"), ("/web/app.js", "text/javascript"),
                       ("/web/style.css", "text/css")]:
        with urllib.request.urlopen(base + path, timeout=10) as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith(kind), path
    for path in ["/web/nope.js", "/web/../CMakeLists.txt", "/web/%2e%2e/README.md",
                 "/web/.hidden", "/web/"]:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + path, timeout=10)
        assert err.value.code == 404, path
        body = json.loads(err.value.read())
        assert "no dashboard file" in body["error"], (path, body)


def test_dashboard_in_chromium(node_factory, browser):
    node = node_factory(INDEXING, args=["--reap-interval", "0.5"])
    browser("open", url=f"http://127.0.0.1:{node.http}/")
    browser("waitStatus", status="live")

    # Rows appear, each in its state's colour.
    send(node,
         dict(host="web-1", service="cpu", state="ok", metric_d=0.31, ttl=120),
         dict(host="web-1", service="memory", state="warning", metric_d=0.82, ttl=120,
              description="82% used"),
         dict(host="web-2", service="cpu", state="critical", metric_d=0.97, ttl=120),
         dict(host="db-1", service="disk /var", state="ok", metric_d=0.44, ttl=120,
              description="rocksdb volume"))
    assert browser("waitRow", host="web-1", service="cpu", state="ok")["row"]["color"] == OK
    assert browser("waitRow", host="web-1", service="memory")["row"]["color"] == WARNING
    assert browser("waitRow", host="web-2", service="cpu")["row"]["color"] == CRITICAL
    row = browser("waitRow", host="db-1", service="disk /var")["row"]
    assert (row["metric"], row["ttl"], row["description"]) == ("0.44", "120s", "rocksdb volume")

    # A new state changes the row's colour; the metrics build web-1/cpu's chart.
    for m in (0.45, 0.62, 0.78):
        send(node, dict(host="web-1", service="cpu", state="ok", metric_d=m, ttl=120))
        browser("waitRow", host="web-1", service="cpu", state="ok")
    send(node, dict(host="web-1", service="cpu", state="critical", metric_d=0.93, ttl=120,
                    description="load above 0.9"))
    row = browser("waitRow", host="web-1", service="cpu", state="critical")["row"]
    assert row["color"] == CRITICAL and row["metric"] == "0.93"
    chart = browser("click", host="web-1", service="cpu")
    assert chart["title"] == "web-1 / cpu" and chart["drawnPixels"] > 100, chart
    row = browser("waitRow", host="web-1", service="cpu", state="critical")["row"]
    assert row["selected"] and row["color"] == CRITICAL  # selection keeps the state colour

    groups = browser("groupBy", by="service")["groups"]
    assert groups == ["service: cpu (2)", "service: disk /var (1)", "service: memory (1)"]
    groups = browser("groupBy", by="host")["groups"]
    assert groups == ["host: db-1 (1)", "host: web-1 (2)", "host: web-2 (1)"]
    shot = BUILD / "dashboard.png"
    browser("screenshot", path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("DMON_UPDATE_SCREENSHOT"):
        shutil.copy(shot, REPO / "docs" / "dashboard.png")

    # An event whose TTL runs out is reaped; its "expired" update removes the row.
    send(node, dict(host="tmp-1", service="job", state="ok", metric_d=1.0, ttl=1.0))
    browser("waitRow", host="tmp-1", service="job")
    browser("waitGone", host="tmp-1", service="job", timeout=15000)

    # The query box filters, and the new subscription only gets matching updates.
    browser("setQuery", query='service = "cpu"')
    browser("waitStatus", status="live")
    rows = browser("waitCount", count=2)["rows"]
    assert sorted((r["host"], r["service"]) for r in rows) == [("web-1", "cpu"), ("web-2", "cpu")]
    send(node, dict(host="web-3", service="memory", state="ok", metric_d=0.1, ttl=120),
         dict(host="web-3", service="cpu", state="warning", metric_d=0.7, ttl=120))
    assert browser("waitRow", host="web-3", service="cpu")["row"]["color"] == WARNING
    assert len(browser("rows")["rows"]) == 3

    # A bad query shows the server's parse error and subscribes to nothing.
    browser("setQuery", query='service = ')
    error = browser("waitError")["error"]
    assert "query refused" in error and "parse error" in error, error
    browser("waitStatus", status="not subscribed")
    browser("waitCount", count=0)

    # Back to everything: the error line goes, all six live rows come back.
    browser("setQuery", query="true")
    browser("waitStatus", status="live")
    browser("waitCount", count=6)
    assert browser("errorVisible")["visible"] is False
    # No script errors; the refused query's 400 is the only failed load, and it is expected.
    problems = [p for p in browser("problems")["problems"]
                if "status of 400 (Bad Request)" not in p]
    assert problems == []
