"""User code fails at one boundary: import errors stop startup, raising streams are rebuilt."""

import subprocess

from conftest import start_node
from riemann_wire import Connection, make_event, msg_with

RAISING = """
import json, os
_out = open(os.environ["DMON_TEST_OUT"], "a", buffering=1)

class _Fragile:
    def send(self, event):
        if event.get("service") == "boom":
            raise RuntimeError("fragile stream cannot take boom")
        _out.write(json.dumps({"fragile": event.get("service")}) + "\\n")

class _Steady:
    def send(self, event):
        _out.write(json.dumps({"steady": event.get("service")}) + "\\n")

fragile_stream = _Fragile()
steady_stream = _Steady()
"""


def test_module_that_fails_to_import_stops_dmond_with_the_traceback(tmp_path):
    proc = start_node(tmp_path, "import json\nraise ImportError('no such dependency: foo')\n",
                      module_name="broken_streams", expect_ready=False)
    assert proc.returncode == 2
    log = (tmp_path / "dmond.log").read_text()
    assert "broken_streams" in log
    assert "Traceback" in log and "no such dependency: foo" in log


def test_missing_module_is_named(tmp_path):
    proc = start_node(tmp_path, None, module_name="no_such_module_here", expect_ready=False)
    assert proc.returncode == 2
    assert "no_such_module_here" in (tmp_path / "dmond.log").read_text()


def test_module_without_streams_is_refused(tmp_path):
    proc = start_node(tmp_path, "x = 1\n", module_name="empty_streams", expect_ready=False)
    assert proc.returncode == 2
    assert "defines no stream" in (tmp_path / "dmond.log").read_text()


def test_raising_stream_is_logged_rebuilt_and_the_others_go_on(node_factory):
    n = node_factory(RAISING)
    with Connection(n.tcp) as c:
        r1 = c.request(msg_with([make_event(host="h", service="before")]))
        r2 = c.request(msg_with([make_event(host="h", service="boom")]))
        r3 = c.request(msg_with([make_event(host="h", service="after")]))
    # The rule: an ack reports delivery to the streams; a stream's exception is the
    # stream's problem (logged, counted, rebuilt), not the client's.
    assert r1.ok and r2.ok and r3.ok
    seen = n.wait_seen(5)
    assert {"steady": "boom"} in seen
    assert {"fragile": "boom"} not in seen
    assert {"fragile": "after"} in seen and {"steady": "after"} in seen
    assert n.wait_log(r"stream 'fragile_stream' raised on event .*boom")
    log = n.log()
    assert "RuntimeError: fragile stream cannot take boom" in log
    assert n.stop() == 0
    assert "stream_exceptions=1" in n.log() and "rebuilds=1" in n.log()


def test_wrong_types_from_a_stream_are_reported_not_fatal(node_factory):
    n = node_factory("""
from dmon import index, smap
stream = smap(lambda e: dict(e, metric="not a number"), index())
""")
    with Connection(n.tcp) as c:
        assert c.request(msg_with([make_event(host="h", service="s")])).ok
    assert n.wait_log(r"event field 'metric' must be an int or float"), n.log()
    with Connection(n.tcp) as c:
        assert c.request(msg_with([make_event(host="h2")])).ok


def test_python_dash_m_dmon_dmon_help_runs_dmond(tmp_path):
    import os
    from conftest import DMOND
    env = dict(os.environ, DMON_DMOND=DMOND)
    r = subprocess.run(["/usr/bin/python3", "-m", "dmon.dmon", "--help"], capture_output=True,
                       text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "--tcp-port" in r.stdout
