"""A protobuf client built on python3-protobuf: pipelining, batches, bad and oversized frames."""

import struct

from riemann_wire import Connection, frame, make_event, msg_with, send_udp


def test_pipelined_messages_get_one_reply_each_in_order(node):
    with Connection(node.tcp) as c:
        payloads = [msg_with([make_event(host="h", service=f"s{i}", metric_sint64=i)])
                    for i in range(1000)]
        c.send_raw(b"".join(frame(p) for p in payloads))
        replies = [c.recv_reply() for _ in payloads]
    assert all(r is not None and r.ok for r in replies)
    seen = node.wait_seen(1000)
    assert [e["metric"] for e in seen] == list(range(1000))


def test_batches_of_100_events(node):
    with Connection(node.tcp) as c:
        for batch in range(10):
            events = [make_event(host=f"h{i}", service="cpu", metric_d=batch + i / 100)
                      for i in range(100)]
            reply = c.request(msg_with(events))
            assert reply.ok, reply.error
    assert len(node.wait_seen(1000)) == 1000


def test_bad_frame_then_good_frame_on_one_connection(node):
    with Connection(node.tcp) as c:
        c.send(b"\xff\xff\xff\xff not protobuf")
        bad = c.recv_reply()
        good = c.request(msg_with([make_event(host="after", service="bad")]))
    assert bad is not None and not bad.ok
    assert "not a valid Riemann protobuf Msg" in bad.error
    assert good is not None and good.ok
    assert node.wait_seen(1)[0]["host"] == "after"


def test_oversized_frame_is_refused_naming_the_limit_then_closed(node_factory):
    n = node_factory(args=["--max-frame-bytes", "1024"])
    with Connection(n.tcp) as c:
        ok = c.request(msg_with([make_event(host="small")]))
        c.send_raw(struct.pack(">I", 4096) + b"\0" * 100)
        refused = c.recv_reply()
        closed = c.recv_reply()
    assert ok.ok
    assert not refused.ok
    assert "exceeds max_frame_bytes (1024 bytes)" in refused.error
    assert "--max-frame-bytes" in refused.error
    assert closed is None


def test_zero_length_frame_is_an_empty_message_and_acked(node):
    with Connection(node.tcp) as c:
        reply = c.request(b"")
    assert reply.ok


def test_query_in_a_message_sees_the_events_of_the_same_message(node):
    with Connection(node.tcp) as c:
        reply = c.request(msg_with([make_event(host="q1", service="svc", metric_sint64=7)],
                                   query='host = "q1" and service = "svc"'))
    assert reply.ok, reply.error
    assert [(e.host, e.metric_sint64) for e in reply.events] == [("q1", 7)]
    assert reply.events[0].metric_f == 7.0 and reply.events[0].time_micros > 0


def test_every_field_survives_the_trip(node):
    event = make_event(host="h", service="s", state="ok", description="d", time_micros=1_700_000_000_250_000,
                       ttl=12.5, metric_d=1.5, tags=["a", "b"], attributes={"env": "prod"})
    with Connection(node.tcp) as c:
        assert c.request(msg_with([event])).ok
    (seen,) = node.wait_seen(1)
    assert seen == {"host": "h", "service": "s", "state": "ok", "description": "d",
                    "time": 1_700_000_000.25, "ttl": 12.5, "metric": 1.5, "tags": ["a", "b"],
                    "attributes": {"env": "prod"}}


def test_udp_protobuf_datagrams(node):
    for i in range(20):
        send_udp(node.udp, msg_with([make_event(host="u", service=f"s{i}")]))
    assert len(node.wait_seen(20)) == 20


def test_undecodable_udp_datagram_is_counted_not_fatal(node):
    send_udp(node.udp, b"\xff\xfe garbage")
    send_udp(node.udp, msg_with([make_event(host="fine")]))
    assert node.wait_seen(1)[0]["host"] == "fine"
    assert node.wait_log(r"rejected a datagram.*not a valid Riemann protobuf Msg")
    assert node.stop() == 0
    assert "rejected=1" in node.log()
