"""SIGTERM: stop accepting, answer and process everything already read, exit 0."""

import signal
import time

from riemann_wire import Connection, frame, make_event, msg_with

SLOW = """
import json, os, time
_out = open(os.environ["DMON_TEST_OUT"], "a", buffering=1)

class _Slow:
    def send(self, event):
        time.sleep(0.002)
        _out.write(json.dumps({"service": event.get("service")}) + "\\n")

slow_stream = _Slow()
"""


def test_sigterm_drains_pipelined_work_then_exits_zero(node_factory):
    n = node_factory(SLOW)
    count = 500
    with Connection(n.tcp) as c:
        c.send_raw(b"".join(frame(msg_with([make_event(host="h", service=str(i))]))
                            for i in range(count)))
        first = c.recv_reply()
        assert first.ok
        # The server is still working through the backlog when the signal arrives.
        n.proc.send_signal(signal.SIGTERM)
        replies = [first] + [c.recv_reply() for _ in range(count - 1)]
        assert all(r is not None and r.ok for r in replies)
        assert c.recv_reply() is None  # then the connection closes
    assert n.proc.wait(60) == 0
    assert [e["service"] for e in n.seen()] == [str(i) for i in range(count)]
    assert "SIGTERM received; draining" in n.log()


def test_new_connections_are_refused_after_sigterm(node_factory):
    n = node_factory(SLOW)
    with Connection(n.tcp) as c:
        c.send_raw(b"".join(frame(msg_with([make_event(service=str(i))])) for i in range(300)))
        assert c.recv_reply().ok
        n.proc.send_signal(signal.SIGTERM)
        assert n.wait_log("draining")
        # The listener closes right after the log line; poll briefly rather than race it.
        refused = False
        deadline = time.monotonic() + 10
        while not refused and time.monotonic() < deadline:
            try:
                Connection(n.tcp, timeout=2).close()
                time.sleep(0.05)
            except OSError:
                refused = True
        for _ in range(299):
            assert c.recv_reply().ok
    assert refused
    assert n.proc.wait(60) == 0
