"""The real riemann-client CLI (Debian's riemann-c-client) against dmond, over TCP and UDP."""

import subprocess
import time

RIEMANN_CLIENT = "riemann-client"


def run_client(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([RIEMANN_CLIENT, *args], capture_output=True, text=True, timeout=30)


def test_tcp_send_is_acked_and_reaches_the_streams(node):
    r = run_client("send", "-h", "web-1", "-S", "cpu", "-s", "warning", "-d", "0.9",
                   "-t", "prod", "-a", "rack=r1", "-L", "30", "127.0.0.1", str(node.tcp))
    assert r.returncode == 0, r.stderr
    (event,) = node.wait_seen(1)
    assert event["host"] == "web-1"
    assert event["service"] == "cpu"
    assert event["state"] == "warning"
    assert event["metric"] == 0.9
    assert event["tags"] == ["prod"]
    assert event["attributes"]["rack"] == "r1"
    assert event["ttl"] == 30.0


def test_integer_metric_stays_an_integer(node):
    r = run_client("send", "-h", "db-1", "-S", "conns", "-i", "42", "127.0.0.1", str(node.tcp))
    assert r.returncode == 0, r.stderr
    (event,) = node.wait_seen(1)
    assert event["metric"] == 42 and isinstance(event["metric"], int)


def test_query_returns_indexed_events(node):
    for host in ("web-1", "web-2"):
        assert run_client("send", "-h", host, "-S", "cpu", "-d", "0.5", "127.0.0.1",
                          str(node.tcp)).returncode == 0
    assert run_client("send", "-h", "web-1", "-S", "mem", "127.0.0.1",
                      str(node.tcp)).returncode == 0
    r = run_client("query", 'service = "cpu"', "127.0.0.1", str(node.tcp))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("Event #") == 2
    assert "web-1" in r.stdout and "web-2" in r.stdout and "mem" not in r.stdout


def test_bad_query_is_refused_with_the_parse_error(node):
    r = run_client("query", 'metric > "x"', "127.0.0.1", str(node.tcp))
    assert r.returncode != 0
    assert "parse error" in (r.stdout + r.stderr)


def test_udp_send_reaches_the_streams(node):
    r = run_client("send", "-U", "-h", "web-9", "-S", "disk", "-s", "critical", "127.0.0.1",
                   str(node.udp))
    assert r.returncode == 0, r.stderr
    (event,) = node.wait_seen(1)
    assert (event["host"], event["service"], event["state"]) == ("web-9", "disk", "critical")


def test_example_module_logs_warnings(node_factory):
    n = node_factory(module_source=None, module_name="streams")
    r = run_client("send", "-h", "web-1", "-S", "cpu", "-s", "warning", "-d", "0.9", "127.0.0.1",
                   str(n.tcp))
    assert r.returncode == 0, r.stderr
    assert n.wait_log(r'"host": "web-1".*"state": "warning"'), n.log()
