"""dmond's HTTP API with real, independent clients: curl, Python `websockets`, an SSE reader,
prometheus_client's parser for /metrics; and bad input: malformed lines, unknown paths,
oversized bodies, a subscriber that never reads."""

import asyncio
import base64
import json
import os
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from riemann_wire import Connection, make_event, msg_with

INDEXING = "from dmon import index\nstream = index()\n"


def curl(*args, data: bytes | None = None):
    """Runs curl; returns (HTTP status, body)."""
    done = subprocess.run(["curl", "-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}",
                           *args], input=data, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr.decode()
    body, _, code = done.stdout.decode().rpartition("\n")
    return int(code), body


def metrics(node) -> list:
    """Every sample of /metrics, parsed by prometheus_client: (name, labels, value)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{node.http}/metrics", timeout=20) as r:
        text = r.read().decode()
    return [(s.name, s.labels, s.value)
            for family in text_string_to_metric_families(text) for s in family.samples]


def value(samples, name: str, **labels) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 when none)."""
    return sum(v for n, ls, v in samples
               if n == name and all(ls.get(k) == want for k, want in labels.items()))


def listener(node, kind: str) -> str:
    return f"{kind} 127.0.0.1:{node.http if kind == 'http' else node.tcp}"


def wait_metric(node, name, want, timeout=10.0, **labels) -> float:
    """Polls /metrics until `name` reaches `want` (counters are updated as work completes)."""
    deadline = time.monotonic() + timeout
    while True:
        got = value(metrics(node), name, **labels)
        if got >= want or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def send_tcp(node, *events):
    with Connection(node.tcp) as c:
        assert c.request(msg_with([make_event(**e) for e in events])).ok


def q(query: str) -> str:
    return urllib.parse.quote(query)


# ---- curl -----------------------------------------------------------------------------

def test_curl_healthz_and_unknown_path(node_factory):
    node = node_factory(INDEXING)
    assert curl(f"http://127.0.0.1:{node.http}/healthz") == (200, "ok\n")
    status, body = curl(f"http://127.0.0.1:{node.http}/no/such/thing")
    assert status == 404
    error = json.loads(body)["error"]
    assert "no endpoint /no/such/thing" in error and "/ (the dashboard)" in error, error


def test_curl_post_events_counts_accepted_and_malformed(node_factory):
    node = node_factory(INDEXING)
    http = listener(node, "http")
    before = metrics(node)
    body = (b'{"host":"curl-1","service":"post","metric":1.5,"state":"ok"}\n'
            b'{"host": "broken", \n'
            b'{"host":"curl-2","service":"post","metric":2}\n')
    status, text = curl("--data-binary", "@-", "-H", "Content-Type: application/x-ndjson",
                        f"http://127.0.0.1:{node.http}/events", data=body)
    assert status == 200, text
    replies = [json.loads(line) for line in text.splitlines()]
    assert len(replies) == 3 and replies[0] == {} and replies[2] == {}
    assert "error" in replies[1], replies

    accepted0 = value(before, "dmon_listener_accepted_events_total", listener=http)
    rejected0 = value(before, "dmon_listener_rejected_messages_total", listener=http,
                      reason="malformed")
    assert wait_metric(node, "dmon_listener_accepted_events_total", accepted0 + 2,
                       listener=http) == accepted0 + 2
    after = metrics(node)
    assert value(after, "dmon_listener_rejected_messages_total", listener=http,
                 reason="malformed") == rejected0 + 1
    assert value(after, "dmon_listener_received_messages_total", listener=http) == \
        value(before, "dmon_listener_received_messages_total", listener=http) + 3

    status, text = curl(f"http://127.0.0.1:{node.http}/index?query=" + q('service = "post"'))
    assert status == 200
    assert sorted((e["host"], e["metric"]) for e in json.loads(text)) == \
        [("curl-1", 1.5), ("curl-2", 2)]


def test_curl_oversized_body_is_413(node_factory):
    node = node_factory(INDEXING, args=["--http-max-body-bytes", "2048"])
    http = listener(node, "http")
    line = json.dumps({"host": "big", "service": "s", "description": "x" * 200}).encode() + b"\n"
    status, text = curl("--data-binary", "@-", f"http://127.0.0.1:{node.http}/events",
                        data=line * 20)
    assert status == 413, text
    assert "max_body_bytes" in json.loads(text)["error"]
    assert wait_metric(node, "dmon_listener_rejected_messages_total", 1, listener=http,
                       reason="too_large") == 1
    # A body under the limit still goes through.
    status, text = curl("--data-binary", "@-", f"http://127.0.0.1:{node.http}/events",
                        data=line)
    assert (status, text.strip()) == (200, "{}")


# ---- /metrics against what was sent ---------------------------------------------------

def test_metrics_move_by_exactly_what_was_sent(node_factory):
    node = node_factory(INDEXING)
    tcp = listener(node, "tcp")
    before = metrics(node)
    with Connection(node.tcp) as c:
        for batch in range(5):
            events = [make_event(host=f"m-{batch}", service=f"svc {i}", metric_d=i)
                      for i in range(7)]
            assert c.request(msg_with(events)).ok
    want = value(before, "dmon_listener_accepted_events_total", listener=tcp) + 35
    assert wait_metric(node, "dmon_listener_accepted_events_total", want, listener=tcp) == want
    after = metrics(node)
    assert value(after, "dmon_listener_received_messages_total", listener=tcp) == \
        value(before, "dmon_listener_received_messages_total", listener=tcp) + 5
    assert value(after, "dmon_listener_rejected_messages_total", listener=tcp) == \
        value(before, "dmon_listener_rejected_messages_total", listener=tcp)
    assert wait_metric(node, "dmon_index_entries", 35) == 35
    # Every family parsed, with the conventions docs/http-api.md promises.
    names = {n for n, _, _ in after}
    assert {"dmon_http_requests_total", "dmon_process_resident_memory_bytes",
            "dmon_stream_events_total"} <= names, sorted(names)


# ---- WebSocket (Python websockets) ----------------------------------------------------

def test_websocket_subscribe_and_events(node_factory):
    node = node_factory(INDEXING)
    send_tcp(node, dict(host="ws-0", service="ws", state="ok", metric_d=1.0))
    base = f"ws://127.0.0.1:{node.http}"

    async def scenario():
        async with websockets.connect(f"{base}/index?subscribe=true&query=" + q('service = "ws"'),
                                      open_timeout=10) as sub:
            first = json.loads(await asyncio.wait_for(sub.recv(), 10))
            assert (first["host"], first["metric"]) == ("ws-0", 1.0)
            assert first["time"].endswith("Z")
            async with websockets.connect(f"{base}/events", open_timeout=10) as ingest:
                await ingest.send(json.dumps({"host": "ws-1", "service": "ws", "state": "warning",
                                              "metric": 2.5}))
                assert json.loads(await asyncio.wait_for(ingest.recv(), 10)) == {}
                await ingest.send('{"host": ')
                assert "error" in json.loads(await asyncio.wait_for(ingest.recv(), 10))
                await ingest.send(json.dumps({"host": "ws-2", "service": "other"}))
                assert json.loads(await asyncio.wait_for(ingest.recv(), 10)) == {}
            update = json.loads(await asyncio.wait_for(sub.recv(), 10))
            assert (update["host"], update["state"], update["metric"]) == ("ws-1", "warning", 2.5)
            # ws-2 does not match the query, so nothing else arrives.
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(sub.recv(), 0.5)

        # Without subscribe=true: the current matches, then the server closes.
        async with websockets.connect(f"{base}/index?query=" + q('service = "ws"')) as once:
            got = sorted([json.loads(m)["host"] async for m in once])
            assert got == ["ws-0", "ws-1"]

    asyncio.run(scenario())
    http = listener(node, "http")
    assert value(metrics(node), "dmon_listener_rejected_messages_total", listener=http,
                 reason="malformed") == 1


def test_websocket_bad_query_is_refused(node_factory):
    node = node_factory(INDEXING)

    async def scenario():
        try:
            async with websockets.connect(f"ws://127.0.0.1:{node.http}/index?subscribe=true&query="
                                          + q('service = '), open_timeout=10) as ws:
                await asyncio.wait_for(ws.recv(), 10)
        except websockets.exceptions.InvalidStatusCode as e:
            return e.status_code
        except websockets.exceptions.ConnectionClosed as e:
            return e.code
        return None

    assert asyncio.run(scenario()) == 400  # refused before the upgrade, like GET /index


# ---- SSE ------------------------------------------------------------------------------

def test_sse_read(node_factory):
    node = node_factory(INDEXING)
    send_tcp(node, dict(host="sse-0", service="sse", metric_d=3.0))
    req = urllib.request.Request(
        f"http://127.0.0.1:{node.http}/sse/index?query=" + q('service = "sse"'))
    with urllib.request.urlopen(req, timeout=20) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")

        def next_event():
            while True:
                line = r.readline().decode()
                assert line, "the SSE stream ended"
                if line.startswith("data: "):
                    assert r.readline() == b"\n"
                    return json.loads(line[6:])

        assert next_event()["host"] == "sse-0"
        send_tcp(node, dict(host="sse-other", service="nope"),
                 dict(host="sse-1", service="sse", state="critical"))
        e = next_event()
        assert (e["host"], e["state"]) == ("sse-1", "critical")


# ---- a subscriber that never reads ----------------------------------------------------

def test_subscriber_that_never_reads_is_dropped_and_publishing_goes_on(node_factory):
    node = node_factory(INDEXING, args=["--http-subscriber-queue", "4"])
    # A raw WebSocket handshake, then never a read: a tiny receive window fills at once.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(20)
    s.connect(("127.0.0.1", node.http))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /index?subscribe=true&query=true HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert b" 101 " in head.split(b"\r\n")[0], head
    try:
        assert wait_metric(node, "dmon_http_subscribers", 1) == 1
        acks = 0
        filler = "y" * 1000
        with Connection(node.tcp) as c:
            for batch in range(200):
                events = [make_event(host=f"slow-{batch}", service=f"s{i}", metric_d=i,
                                     description=filler) for i in range(10)]
                reply = c.request(msg_with(events))
                assert reply is not None and reply.ok, reply
                acks += 1
        assert acks == 200  # 2000 events, every ack came back while the subscriber sat still
        assert wait_metric(node, "dmon_http_dropped_subscribers_total", 1,
                           reason="slow_consumer") == 1
        samples = metrics(node)
        assert value(samples, "dmon_http_subscribers") == 0
        tcp = listener(node, "tcp")
        assert value(samples, "dmon_listener_accepted_events_total", listener=tcp) == 2000
        assert node.wait_log("slow", timeout=5), node.log()[-2000:]
    finally:
        s.close()
