"""python3 -m dmon.shell --connect: the connected console against a fake Riemann server
(tests/python/fake_riemann.py); against a real dmond see tests/integration/test_module_parity.py."""

from __future__ import annotations

import importlib.util
import io
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dmon.shell import RemoteShell, parse_address, run_console
from dmon.wire import WireError, encode_msg
from fake_riemann import FakeRiemann

ROOT = Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def shell(*args, script=""):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "pystreams"))
    return subprocess.run([PYTHON, "-m", "dmon.shell", *args], input=textwrap.dedent(script),
                          capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture
def server():
    s = FakeRiemann()
    yield s
    s.close()


def test_send_and_query_from_python(server):
    sh = RemoteShell("127.0.0.1", server.port)
    assert sh.send(host="a", service="cpu", metric=0.5, env="prod") == {"ok": True}
    assert sh.send({"host": "b", "service": "cpu", "metric": 2}, [{"host": "b", "service": "mem"}]) == {"ok": True}
    assert [len(m["events"]) for m in server.msgs] == [1, 2]
    assert server.msgs[0]["events"] == [{"host": "a", "service": "cpu", "metric": 0.5,
                                         "attributes": {"env": "prod"}}]
    assert [e["host"] for e in sh.query('service = "cpu"')] == ["a", "b"]
    assert len(sh.query()) == 3
    sh.close()
    assert sh.query("metric > 1") == [{"host": "b", "service": "cpu", "metric": 2}]  # reopened


def test_server_errors_are_returned_or_raised():
    srv = FakeRiemann(reply=lambda msg: encode_msg(ok=False, error="bad event"))
    try:
        sh = RemoteShell("127.0.0.1", srv.port)
        assert sh.send(host="a") == {"ok": False, "error": "bad event"}
        with pytest.raises(WireError, match="parse error"):
            sh.query("service = = 1")
    finally:
        srv.close()


def test_send_needs_events(server):
    sh = RemoteShell("127.0.0.1", server.port)
    with pytest.raises(TypeError):
        sh.send()
    with pytest.raises(TypeError):
        sh.send("host=a")


def test_scripted_console_session(server):
    r = shell("--connect", f"127.0.0.1:{server.port}", "-q", script="""
        send(host="web-1", service="cpu", metric=0.9, state="warning")
        send([{"host": "web-2", "service": "cpu", "metric": 0.1}, {"host": "web-2", "service": "mem"}])
        [e["host"] for e in query('service = "cpu" and metric > 0.5')]
        len(query())
        where, rate, forward
        shell_help()
    """)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:4] == ["{'ok': True}", "{'ok': True}", "['web-1']", "3"]
    assert lines[4].startswith("(<function where")  # the dmon vocabulary is there
    assert any(line.lstrip().startswith("query('service") for line in lines)
    assert r.stderr.strip() == ""


def test_banner_names_the_node(server):
    r = shell("--connect", f"127.0.0.1:{server.port}", script="1 + 1\n")
    assert r.returncode == 0, r.stderr
    assert f"dmon shell connected to 127.0.0.1:{server.port}" in r.stderr
    assert r.stdout.splitlines()[-1] == "2"


@pytest.mark.parametrize("kind,package", [("ipython", "IPython"), ("bpython", "bpython")])
def test_missing_console_falls_back_to_plain_with_a_message(server, kind, package):
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed here")
    r = shell("--connect", f"127.0.0.1:{server.port}", kind, "-q", script='send(host="a")\n')
    assert r.returncode == 0, r.stderr
    assert f"{kind} is not installed" in r.stderr and "install" in r.stderr
    assert "plain console" in r.stderr
    assert r.stdout.splitlines() == ["{'ok': True}"]


def test_console_kind_applies_to_local_mode_too():
    if importlib.util.find_spec("IPython") is not None:
        pytest.skip("IPython is installed here")
    r = shell("ipython", "--start", "0", "-q", script="now()\n")
    assert r.returncode == 0, r.stderr
    assert "ipython is not installed" in r.stderr
    assert r.stdout.splitlines() == ["0.0"]


def test_cannot_connect_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = shell("--connect", f"127.0.0.1:{port}", script="")
    assert r.returncode == 2
    assert f"cannot connect to 127.0.0.1:{port}" in r.stderr


def test_connect_refuses_a_module_and_bad_addresses(server):
    r = shell("--connect", f"127.0.0.1:{server.port}", "mystreams")
    assert r.returncode == 2 and "loads no module" in r.stderr
    r = shell("--connect", ":5555")
    assert r.returncode == 2 and "no host" in r.stderr


def test_parse_address():
    assert parse_address("h:1") == ("h", 1)
    assert parse_address("[::1]") == ("::1", 5555)
    with pytest.raises(ValueError):
        parse_address("h:port")


def test_run_console_rejects_unknown_kinds():
    with pytest.raises(ValueError):
        run_console({}, "", "emacs", io.StringIO())


