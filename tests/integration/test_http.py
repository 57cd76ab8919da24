"""dmond's HTTP side with real clients: probes, Prometheus metrics, queries, POST /events, SSE, WebSocket."""

import base64
import json
import os
import socket
import struct
import urllib.error
import urllib.request

from riemann_wire import Connection, make_event, msg_with


def get(node, path, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{node.http}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def post(node, path, body: bytes):
    req = urllib.request.Request(f"http://127.0.0.1:{node.http}{path}", data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def send(node, **fields):
    with Connection(node.tcp) as c:
        assert c.request(msg_with([make_event(**fields)])).ok


def test_probes(node):
    assert get(node, "/healthz")[0] == 200
    assert get(node, "/readyz")[0] == 200


def test_metrics_count_what_the_listeners_saw(node):
    send(node, host="m", service="cpu")
    status, body = get(node, "/metrics")
    assert status == 200
    assert "# TYPE" in body and "dmon_" in body
    accepted = [line for line in body.splitlines()
                if line.startswith("dmon_listener_accepted_events_total") and 'tcp' in line]
    assert accepted and float(accepted[0].split()[-1]) >= 1, body[:2000]
    assert "process_resident_memory_bytes" in body or "dmon_process_resident_memory_bytes" in body
    counts = {line.split()[0]: float(line.split()[-1]) for line in body.splitlines()
              if line.endswith(tuple("0123456789")) and "_count" in line.split()[0]}
    for name in ("dmon_tcp_ack_duration_seconds_count", "dmon_stream_event_duration_seconds_count",
                 "dmon_index_write_duration_seconds_count"):
        assert counts.get(name, 0) >= 1, (name, counts)


def test_index_query_returns_json_with_iso_time(node):
    send(node, host="web-1", service="cpu", metric_d=0.5, time=1_700_000_000)
    status, body = get(node, "/index?query=" + urllib.request.quote('service = "cpu"'))
    assert status == 200
    events = json.loads(body)
    assert [(e["host"], e["metric"]) for e in events] == [("web-1", 0.5)]
    assert events[0]["time"] == "2023-11-14T22:13:20.000Z"


def test_bad_query_is_400_with_the_parse_error(node):
    status, body = get(node, "/index?query=" + urllib.request.quote('metric > "x"'))
    assert status == 400 and "parse error" in body


def test_post_events_answers_each_line(node):
    body = b'{"host":"p1","service":"s"}\n{"host":5}\n{"host":"p2","service":"s"}\n'
    status, text = post(node, "/events", body)
    assert status == 200
    replies = [json.loads(line) for line in text.splitlines()]
    assert replies[0] == {} and replies[2] == {}
    assert "error" in replies[1] and "host" in replies[1]["error"]
    hosts = sorted(e.get("host") for e in node.wait_seen(2))
    assert hosts == ["p1", "p2"]


def test_sse_streams_current_matches_then_updates(node):
    send(node, host="sse-1", service="load")
    req = urllib.request.Request(
        f"http://127.0.0.1:{node.http}/index?query=" + urllib.request.quote('service = "load"'),
        headers={"Accept": "text/event-stream"})
    with urllib.request.urlopen(req, timeout=20) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        first = r.readline().decode()
        assert first.startswith("data: ") and "sse-1" in first
        r.readline()
        send(node, host="sse-2", service="load")
        while True:
            line = r.readline().decode()
            if line.startswith("data: "):
                break
        assert "sse-2" in line


def ws_connect(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert b" 101 " in head.split(b"\r\n")[0], head
    return s


def ws_read_text(s):
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf
    b0, b1 = exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", exact(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", exact(8))[0]
    payload = exact(n)
    return b0 & 0x0F, payload.decode()


def test_websocket_subscription_like_riemann_dash(node):
    send(node, host="ws-1", service="cpu")
    s = ws_connect(node.http, "/index?subscribe=true&query=" + urllib.request.quote('service = "cpu"'))
    try:
        opcode, text = ws_read_text(s)
        assert opcode == 1 and json.loads(text)["host"] == "ws-1"
        send(node, host="ws-2", service="cpu")
        send(node, host="other", service="mem")
        opcode, text = ws_read_text(s)
        assert json.loads(text)["host"] == "ws-2"
    finally:
        s.close()


def test_python_publish_feeds_pubsub_topic(node_factory):
    n = node_factory("""
from dmon import publish
stream = publish("alerts")
""")
    s = ws_connect(n.http, "/pubsub/alerts?query=true")
    try:
        import time
        time.sleep(0.2)  # the subscription is registered once the upgrade completes
        send(n, host="pub-1", service="x")
        opcode, text = ws_read_text(s)
        assert json.loads(text)["host"] == "pub-1"
    finally:
        s.close()


def test_dmon_instrumentation_events_reach_the_streams(node_factory):
    n = node_factory(args=["--instrumentation-interval", "0.5", "--hostname", "self-test"])
    import time
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        own = [e for e in n.seen() if e.get("service", "").startswith("dmon ")]
        if any(e["service"] == "dmon streams latency 0.99" for e in own):
            break
        time.sleep(0.2)
    assert own, n.seen()
    assert all(e["host"] == "self-test" and "dmon" in e.get("tags", []) for e in own)
    services = {e["service"] for e in own}
    assert "dmon streams latency 0.99" in services, sorted(services)
    assert "dmon index size" in services, sorted(services)


def test_history_returns_stored_events_in_a_time_range(node_factory):
    n = node_factory("""
from dmon import store
stream = store()
""")
    for i in range(10):
        send(n, host="hist", service=f"s{i}", time=1_700_000_000 + i, metric_sint64=i)
    status, body = get(n, "/history?from=1700000002&to=2023-11-14T22:13:27Z&query="
                       + urllib.request.quote("metric >= 3"))
    assert status == 200, body
    assert [e["metric"] for e in json.loads(body)] == [3, 4, 5, 6]
    status, body = get(n, "/history?limit=2")
    assert status == 200 and [e["metric"] for e in json.loads(body)] == [0, 1]
    status, body = get(n, "/history?from=yesterday")
    assert status == 400 and "ISO-8601" in body
