"""The wire codec and the forward output, against Python TCP servers started by the tests
(no dmond); the codec is cross-checked with protoc-generated classes when available."""

from __future__ import annotations

import importlib
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dmon import forward, where
from dmon.testing import Harness, run
from dmon.wire import (Client, WireError, decode_event, decode_msg, encode_event, encode_msg,
                       frame, read_frame)
from fake_riemann import FakeRiemann

PROTO = Path(__file__).parents[2] / "proto" / "riemann.proto"


@pytest.fixture
def server():
    s = FakeRiemann()
    yield s
    s.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the codec --------------------------------------------------------------------------


@pytest.mark.parametrize("event", [
    {"host": "a", "service": "cpu", "state": "ok", "description": "d", "time": 1700000000.25,
     "ttl": 30.0, "metric": 3, "tags": ["x", "y"], "attributes": {"env": "prod"}},
    {"metric": -5}, {"metric": 0}, {"metric": 2 ** 62}, {"metric": -(2 ** 63)},
    {"metric": 0.1}, {"metric": -1e300}, {"time": 0}, {"time": 12}, {"time": 1.000001},
    {"host": "ünïcode ✓", "tags": ["é"]}, {},
])
def test_round_trip(event):
    assert decode_event(encode_event(event)) == event


def test_metric_wire_fields_and_extras():
    e = decode_msg(encode_msg([{"metric": True if False else 7, "env": "prod", "n": 3,
                                "host": None}]))["events"][0]
    assert e == {"metric": 7, "attributes": {"env": "prod", "n": "3"}}
    # An int out of int64 range goes as a double.
    assert decode_event(encode_event({"metric": 2 ** 70}))["metric"] == float(2 ** 70)
    # A metric only as metric_f (an old client) still decodes.
    f_only = bytes([0x7D]) + struct.pack("<f", 1.5)
    assert decode_event(f_only) == {"metric": 1.5}
    # time without time_micros is whole seconds.
    assert decode_event(bytes([0x08, 0x05])) == {"time": 5}


def test_bad_events_raise_type_error():
    for bad in ({"metric": "high"}, {"metric": True}, {"time": "now"}, {"ttl": "1"}):
        with pytest.raises(TypeError):
            encode_event(bad)


def test_malformed_input_raises_wire_error():
    for bad in (b"\x32\x05ab", b"\x08", b"\x0b", b"\x00\x01", b"\x32\x02\x4a\x00"):
        with pytest.raises(WireError):
            decode_msg(bad)
    # Unknown fields and deprecated states are skipped.
    assert decode_msg(b"\x10\x01\x22\x00\xf8\x01\x05")["ok"] is True


def test_core_named_attributes_dropped_like_dmond():
    payload = encode_event({"attributes": {"host": "x", "ok": "1"}})
    assert decode_event(payload) == {"attributes": {"ok": "1"}}


@pytest.fixture(scope="module")
def pb2(tmp_path_factory):
    try:
        importlib.import_module("google.protobuf")
    except ImportError:
        pytest.skip("python3-protobuf not installed")
    protoc = shutil.which("protoc")
    if protoc is None:
        pytest.skip("protoc not installed")
    out = tmp_path_factory.mktemp("pb2")
    subprocess.run([protoc, f"--python_out={out}", f"-I{PROTO.parent}", str(PROTO)], check=True)
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("riemann_pb2")
    finally:
        sys.path.remove(str(out))


def test_encoder_matches_protobuf(pb2):
    e = {"host": "h", "service": "s", "state": "warning", "description": "d",
         "time": 1700000000.5, "ttl": 12.5, "metric": -42, "tags": ["a", "b"],
         "attributes": {"env": "prod", "k": "v"}}
    m = pb2.Msg()
    m.ParseFromString(encode_msg([e, {"metric": 0.25}], query="true"))
    a, b = m.events
    assert (a.host, a.service, a.state, a.description) == ("h", "s", "warning", "d")
    assert a.time == 1700000000 and a.time_micros == 1700000000500000
    assert a.ttl == 12.5 and a.metric_sint64 == -42 and a.metric_f == -42.0
    assert not a.HasField("metric_d")
    assert list(a.tags) == ["a", "b"]
    assert {x.key: x.value for x in a.attributes} == {"env": "prod", "k": "v"}
    assert b.metric_d == 0.25 and b.metric_f == 0.25 and not b.HasField("metric_sint64")
    assert m.query.string == "true"
    # Byte for byte what protobuf serialises for the same message.
    assert m.SerializeToString() == encode_msg([e, {"metric": 0.25}], query="true")


def test_decoder_reads_protobuf(pb2):
    m = pb2.Msg(ok=False, error="nope")
    ev = m.events.add(host="h", time=7, metric_d=1.5, metric_f=1.5, ttl=3.0)
    ev.tags.append("t")
    ev.attributes.add(key="env", value="prod")
    m.events.add(metric_sint64=-3, time_micros=1500000)
    m.states.add(host="old")
    got = decode_msg(m.SerializeToString())
    assert got == {"ok": False, "error": "nope", "query": None, "events": [
        {"host": "h", "time": 7, "ttl": 3.0, "metric": 1.5, "tags": ["t"],
         "attributes": {"env": "prod"}},
        {"time": 1.5, "metric": -3}]}


# -- the client ---------------------------------------------------------------------------


def test_client_send_and_query(server):
    with Client("127.0.0.1", server.port) as c:
        assert c.send([{"host": "a", "service": "cpu", "metric": 1}])["ok"] is True
        assert c.send([{"host": "a", "service": "mem", "metric": 2}])["ok"] is True
        assert c.query('service = "cpu"') == [{"host": "a", "service": "cpu", "metric": 1}]
    assert server.connections == 1


def test_client_refused_raises_os_error():
    with pytest.raises(OSError):
        Client("127.0.0.1", free_port(), timeout=1).send([{"host": "a"}])


# -- forward ------------------------------------------------------------------------------


def test_forward_batches_and_acks(server):
    s = forward("127.0.0.1", server.port, batch=10, interval=0.2)
    for i in range(25):
        s.send({"host": "a", "service": "req", "metric": i, "time": 100 + i})
    assert s.worker.join(10)
    assert [e["metric"] for e in server.events] == list(range(25))
    assert [len(m["events"]) for m in server.msgs] == [10, 10, 5]
    c = s.counters()
    assert (c["sent"], c["failed"], c["dropped"], c["errors"], c["queued"]) == (25, 0, 0, 0, 0)
    assert server.connections == 1  # one kept connection


def test_forward_interval_flushes_small_batches(server):
    s = forward("127.0.0.1", server.port, batch=1000, interval=0.05)
    s.send({"host": "a"})
    assert server.wait(1, 5) == [{"host": "a"}]


def test_forward_lists_and_through_streams(server):
    s = where('service = "cpu"', forward("127.0.0.1", server.port, interval=0.01))
    s.send({"service": "cpu", "metric": 1})
    s.send({"service": "mem", "metric": 2})
    fwd = s.children[0]
    fwd.send([{"service": "cpu", "metric": 3}, {"service": "cpu", "metric": 4}])
    assert fwd.worker.join(10)
    assert [e["metric"] for e in server.events] == [1, 3, 4]


def test_forward_reconnects_after_server_closes():
    srv = FakeRiemann(close_first=1)  # first connection: takes a batch, never replies
    try:
        s = forward("127.0.0.1", srv.port, batch=5, interval=0.01, timeout=2)
        for i in range(5):
            s.send({"metric": i})
        assert s.worker.join(10)
        c = s.counters()
        assert c["sent"] == 5 and c["errors"] >= 1 and c["failed"] == 0
        # At least once: the lost batch came again on the second connection.
        assert [e["metric"] for e in srv.events] == [0, 1, 2, 3, 4] * 2
        assert srv.connections == 2
    finally:
        srv.close()


def test_forward_waits_for_a_server_that_comes_up_later():
    port = free_port()
    s = forward("127.0.0.1", port, batch=2, interval=0.01, timeout=1)
    s.send({"metric": 1})
    s.send({"metric": 2})  # queued: nothing listens yet
    deadline = time.monotonic() + 30
    while s.counters()["errors"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert s.counters()["errors"] >= 2, "the worker never retried"
    # Backing off (0.1 s doubling), not spinning: a spin would fail thousands of times. A
    # slow machine only makes fewer attempts, so this bound cannot fail spuriously.
    before = s.counters()["errors"]
    time.sleep(0.5)
    assert s.counters()["errors"] - before < 20
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen()
    got = []

    def serve():
        conn, _ = srv.accept()
        with conn:
            got.extend(decode_msg(read_frame(conn))["events"])
            conn.sendall(frame(encode_msg(ok=True)))
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        assert s.worker.join(15)
        assert got == [{"metric": 1}, {"metric": 2}]
        assert s.counters()["sent"] == 2
    finally:
        srv.close()


def test_forward_counts_refused_batches_and_bad_events():
    srv = FakeRiemann(reply=lambda msg: encode_msg(ok=False, error="no thanks"))
    try:
        s = forward("127.0.0.1", srv.port, batch=3, interval=0.01)
        s.send({"metric": 1})
        s.send({"metric": "not a number"})
        s.send({"metric": 3})
        assert s.worker.join(10)
        c = s.counters()
        assert (c["sent"], c["failed"]) == (0, 3)
        assert s.worker.last_error == "no thanks"
        assert [e["metric"] for e in srv.events] == [1, 3]  # the bad one never left
    finally:
        srv.close()


def test_forward_full_queue_drops_and_never_blocks():
    port = free_port()  # nothing listens: the worker keeps retrying its first batch
    s = forward("127.0.0.1", port, batch=1, queue=5, interval=0, timeout=0.5)
    # The worker holds its first batch and retries it forever, so a send that waited for room
    # would never return: the sender thread would still be alive. Nothing here is timed.
    sender = threading.Thread(target=lambda: [s.send({"metric": i}) for i in range(100)],
                              daemon=True)
    sender.start()
    sender.join(60)
    assert not sender.is_alive(), "send blocked on a full queue"
    c = s.counters()
    assert c["dropped"] >= 90 and c["queued"] <= 5
    s.worker.stop()


def test_forward_shares_one_worker_per_destination(server):
    a = forward("127.0.0.1", server.port)
    b = forward("127.0.0.1", server.port)
    assert a.worker is b.worker
    assert forward("127.0.0.1", server.port + 1).worker is not a.worker


def test_forward_under_testing_is_captured_not_sent(server):
    h = Harness()
    s = h.build(lambda: forward("127.0.0.1", server.port))
    s.send({"host": "a"})
    assert h.captured == [("forward", {"host": "a"})]
    assert run(lambda out: where("metric > 1", out), [{"metric": 2}]) == [{"metric": 2}]
    time.sleep(0.1)
    assert server.events == []


def test_forward_validates_arguments():
    with pytest.raises(ValueError):
        forward("")
    with pytest.raises(ValueError):
        forward(None)  # type: ignore[arg-type]


def test_forward_describe():
    from dmon import describe
    assert describe(forward("h", 5556, batch=7)) == {
        "stream": "forward", "host": "h", "port": 5556, "batch": 7, "interval": 1.0}
