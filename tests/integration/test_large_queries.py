"""Answers that span the whole index: TCP encodes them in chunks into one Msg, HTTP streams them."""

import json
import urllib.request

from conftest import RECORDER, start_node
from riemann_wire import Connection, make_event, msg_with

N = 3000  # more than 11 TCP encoding chunks (256) and 2 HTTP pages (1024)


def fill(node):
    with Connection(node.tcp) as c:
        for lo in range(0, N, 500):
            reply = c.request(msg_with([make_event(host=f"h{i:05}", service="bulk", metric_sint64=i,
                                                   ttl=600.0)
                                        for i in range(lo, lo + 500)]))
            assert reply.ok, reply.error


def test_query_true_over_tcp_returns_every_event_in_one_msg(tmp_path):
    n = start_node(tmp_path, RECORDER)
    try:
        fill(n)
        with Connection(n.tcp) as c:
            reply = c.request(msg_with(query="true"))
            assert reply.ok, reply.error
            bulk = sorted(e.host for e in reply.events if e.service == "bulk")
            assert bulk == [f"h{i:05}" for i in range(N)]
            assert {e.metric_sint64 for e in reply.events if e.service == "bulk"} == set(range(N))
            # The connection goes on: a bad query then a good one on the same socket.
            bad = c.request(msg_with(query="service = "))
            assert not bad.ok and "parse error" in bad.error
            one = c.request(msg_with(query='host = "h00042" and service = "bulk"'))
            assert one.ok and [e.metric_sint64 for e in one.events] == [42]
    finally:
        n.stop()


def test_get_index_streams_every_event_as_one_chunked_json_array(tmp_path):
    n = start_node(tmp_path, RECORDER)
    try:
        fill(n)
        with urllib.request.urlopen(f"http://127.0.0.1:{n.http}/index?query=true", timeout=30) as r:
            assert r.headers["Transfer-Encoding"] == "chunked"
            events = json.loads(r.read())
        bulk = sorted(e["host"] for e in events if e["service"] == "bulk")
        assert bulk == [f"h{i:05}" for i in range(N)]
        # The indexed path answers in one page, still chunked.
        q = "service%20%3D%20%22bulk%22%20and%20metric%20%3C%2010"
        with urllib.request.urlopen(f"http://127.0.0.1:{n.http}/index?query={q}", timeout=30) as r:
            assert sorted(e["metric"] for e in json.loads(r.read())) == list(range(10))
    finally:
        n.stop()
