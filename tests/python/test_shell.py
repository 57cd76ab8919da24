"""python3 -m dmon.shell: the interactive shell driven by scripted input, and --check."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYSTREAMS = str(ROOT / "pystreams")
EXAMPLES = str(ROOT / "pystreams" / "examples")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def shell(*args, script="", path=(), cwd=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([PYSTREAMS, *map(str, path)]))
    return subprocess.run([PYTHON, "-m", "dmon.shell", *args], input=textwrap.dedent(script),
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


@pytest.fixture
def module_dir(tmp_path):
    def write(name, source):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        return tmp_path
    return write


def test_example_module_inject_query_tick_expire():
    r = shell("streams", "--start", "1000", "-q", path=[EXAMPLES], script="""
        inject(host="web-1", service="cpu", state="critical", metric=0.95)
        inject({"host": "web-2", "service": "cpu", "state": "ok", "metric": 0.1, "ttl": 5})
        [e["host"] for e in query('service = "cpu" and metric > 0.5')]
        now()
        tick(10)
        expire()
        [e["host"] for e in indexed()]
        lookup("web-1", "cpu")["ttl"]
    """)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "loaded streams: stream, alert_stream"
    # log("warning") of the critical event, with the clock's time filled in
    assert 'WARNING dmon.events: {"host": "web-1", "service": "cpu", "state": "critical", ' \
           '"metric": 0.95, "time": 1000.0}' in lines
    assert "['web-1']" in lines and "1000.0" in lines
    assert "[{'host': 'web-2', 'service': 'cpu', 'state': 'expired', 'time': 1010.0}]" in lines
    assert any('"state": "expired"' in line and "web-2" in line for line in lines)  # alert_stream logged it
    assert lines[-2:] == ["['web-1']", "60"]
    assert r.stderr.strip() == ""   # the console ends a line at end of input


def test_outputs_taps_and_publish_are_shown_not_sent(module_dir):
    d = module_dir("m_shell_out", """
        from dmon import changed_state, email, publish, rate, sdo, tap, where
        stream = sdo(
            changed_state(where('state = "critical"', email("ops@example.com"))),
            where('service = "req"', tap("reqs", rate(5, publish("rates")))),
        )
    """)
    r = shell("m_shell_out", "--start", "0", "-q", path=[d], script="""
        inject(host="a", service="cpu", state="critical")
        inject(host="a", service="cpu", state="critical")
        inject([{"service": "req", "metric": 5}, {"service": "req", "metric": 5}])
        tick(5)
        len(outputs()), published("rates")[0]["metric"], len(taps()["reqs"])
    """)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out.count('  email <- {"host": "a", "service": "cpu", "state": "critical", "time": 0.0}') == 1
    assert out.count('  tap reqs <- {"service": "req", "metric": 5, "time": 0.0}') == 2
    assert '  publish rates <- {"service": "req", "metric": 2.0, "time": 5.0}' in out
    assert out[-1] == "(1, 2.0, 2)"


def test_streams_built_in_the_shell_and_exceptions_keep_the_session_going():
    r = shell("--start", "0", "-q", script="""
        root(smap(lambda e: e["metric"] * 2, tap("double")), "double_stream")
        inject(metric=2)
        inject(host="no metric")
        1/0
        taps()["double"]
        roots()
    """)
    assert r.returncode == 0
    assert "  tap double <- 4" in r.stdout.splitlines()
    assert "! smap raised on" in r.stdout and "KeyError: 'metric'" in r.stdout
    assert "ZeroDivisionError" in r.stderr          # typed code errors: the console's traceback
    assert r.stdout.rstrip().endswith("double_stream\n  smap\n    tap name='double'")


def test_reload_takes_an_edited_module_and_a_path_works(module_dir):
    d = module_dir("m_reload", "from dmon import tap\nstream = tap('v1')\n")
    r = shell(str(d / "m_reload.py"), "--start", "0", "-q", script=f"""
        inject(metric=1)
        open({str(d / 'm_reload.py')!r}, "w").write("from dmon import tap\\nnew_stream = tap('v2')\\n")
        reload()
        inject(metric=2)
    """)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "loaded m_reload: stream" and "loaded m_reload: new_stream" in out
    assert '  tap v1 <- {"metric": 1, "time": 0.0}' in out and '  tap v2 <- {"metric": 2, "time": 0.0}' in out


def test_a_module_that_does_not_load_leaves_a_usable_shell(module_dir):
    d = module_dir("m_broken_shell", "stream = where(\n")
    r = shell("m_broken_shell", "-q", path=[d], script="1 + 1\n")
    assert r.returncode == 0
    assert "SyntaxError" in r.stderr and "does not load" in r.stderr
    assert r.stdout.strip() == "2"


def test_check_lists_roots_with_their_trees():
    r = shell("--check", "streams", path=[EXAMPLES])
    assert r.returncode == 0, r.stderr
    assert r.stdout == textwrap.dedent("""\
        streams: 2 root streams
        stream
          default fields={'ttl': 60}
            index
        alert_stream
          sdo
            where query='state = "warning" or state = "critical"'
              log level='warning'
            expired
              log level='warning'
        """)


def test_check_json_and_where_else_branches(module_dir):
    d = module_dir("m_check_json", """
        from dmon import where, index, counter
        stream = where("metric > 1", index(), else_=counter())
    """)
    r = shell("--check", "m_check_json", "--json", path=[d])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"stream": {"stream": "where", "query": "metric > 1",
                                               "children": [{"stream": "index"}],
                                               "else": [{"stream": "counter"}]}}
    r = shell("--check", str(d / "m_check_json.py"))
    assert r.stdout.splitlines()[1:] == ["stream", "  where query='metric > 1'", "    index",
                                         "    else:", "      counter"]


@pytest.mark.parametrize("source, error", [
    ("from dmon import where\nstream = where(\n", "SyntaxError"),
    ("import no_such_dependency\nstream = None\n", "ModuleNotFoundError"),
    ("from dmon import rate\nstream = rate(0)\n", "ValueError: rate interval must be > 0"),
    ("x = 1\n", "defines no stream"),
    ("import sys\nsys.exit(3)\n", "SystemExit"),
])
def test_check_fails_with_the_traceback(module_dir, source, error):
    d = module_dir("m_check_bad", source)
    r = shell("--check", "m_check_bad", path=[d])
    assert r.returncode == 1
    assert r.stdout == ""
    assert "Traceback (most recent call last)" in r.stderr and error in r.stderr
    assert "dmon.shell --check: m_check_bad does not load" in r.stderr


def test_check_of_a_missing_module():
    r = shell("--check", "dmon_no_such_module_anywhere")
    assert r.returncode == 1 and "dmon_no_such_module_anywhere" in r.stderr
