"""Outputs against real local servers: SMTP, HTTP (webhook, slack, pagerduty, pushgateway), Graphite TCP."""

import email as email_lib
import http.server
import json
import logging
import socket
import socketserver
import threading

import pytest

from dmon import (email, graphite, log, log_file, mailer, pagerduty, prometheus_push, slack,
                  stdout, webhook)
from dmon.runtime import Runtime, activate


class _SMTPHandler(socketserver.StreamRequestHandler):
    def handle(self):
        srv = self.server
        self.wfile.write(b"220 test ESMTP\r\n")
        mail = {"rcpt": []}
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode().strip()
            up = cmd.upper()
            if up.startswith(("EHLO", "HELO")):
                self.wfile.write(b"250 test\r\n")
            elif up.startswith("MAIL FROM"):
                mail["from"] = cmd.split(":", 1)[1].strip()
                self.wfile.write(b"250 ok\r\n")
            elif up.startswith("RCPT TO"):
                mail["rcpt"].append(cmd.split(":", 1)[1].strip())
                self.wfile.write(b"250 ok\r\n")
            elif up == "DATA":
                self.wfile.write(b"354 go\r\n")
                data = []
                while True:
                    l = self.rfile.readline()
                    if l in (b".\r\n", b""):
                        break
                    data.append(l)
                mail["data"] = b"".join(data)
                srv.messages.append(dict(mail))
                self.wfile.write(b"250 queued\r\n")
            elif up == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp_server():
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    srv.daemon_threads = True
    srv.messages = []
    t = threading.Thread(target=lambda: srv.serve_forever(poll_interval=0.02), daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def http_server():
    requests = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            requests.append((self.path, dict(self.headers), self.rfile.read(n)))
            code = 500 if self.path.startswith("/fail") else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    srv.requests = requests
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    threading.Thread(target=lambda: srv.serve_forever(poll_interval=0.02), daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_email_sends_riemann_subject_and_body_via_smtp(smtp_server):
    rt = activate(Runtime(config={"smtp_host": "127.0.0.1", "smtp_port": smtp_server.server_address[1],
                                  "smtp_from": "dmon@test"}))
    s = email("me@mycompany.com", "ops@mycompany.com")
    assert s.send({"host": "web-1", "service": "cpu", "state": "warning", "metric": 0.9,
                   "time": 0, "description": "hot"})
    assert rt.drain(10)
    (m,), = [smtp_server.messages]
    assert m["rcpt"] == ["<me@mycompany.com>", "<ops@mycompany.com>"]
    msg = email_lib.message_from_bytes(m["data"])
    assert msg["Subject"] == "web-1 cpu warning" and msg["From"] == "dmon@test"
    body = msg.get_payload(decode=True).decode()
    assert "web-1 cpu warning (0.9)" in body and "hot" in body


def test_email_of_a_window_summarises_hosts(smtp_server):
    rt = activate(Runtime())
    s = mailer(smtp={"host": "127.0.0.1", "port": smtp_server.server_address[1]})("a@b.c")
    s.send([{"host": h, "service": "cpu", "state": "critical"} for h in ("a", "b", "c", "d", "e")])
    assert rt.drain(10)
    msg = email_lib.message_from_bytes(smtp_server.messages[0]["data"])
    assert msg["Subject"] == "5 hosts cpu critical"


def test_email_failure_is_counted_and_logged_never_raised(caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    rt = activate(Runtime(config={"smtp_host": "127.0.0.1", "smtp_port": port}))
    out = email("x@y.z")
    with caplog.at_level(logging.ERROR):
        assert out.send({"host": "a"}) is True
        assert rt.drain(10)
    assert out.worker.counters()["failed"] == 1
    assert "email failed" in caplog.text


def test_email_rejects_non_string_recipients():
    with pytest.raises(TypeError):
        email({"host": "a"})


def test_webhook_posts_json(http_server):
    rt = activate(Runtime())
    s = webhook(http_server.url + "/hook", headers={"X-Token": "t"})
    s.send({"host": "a", "metric": 1})
    assert rt.drain(10)
    path, headers, body = http_server.requests[0]
    assert path == "/hook" and headers["Content-Type"] == "application/json"
    assert headers["X-Token"] == "t" and json.loads(body) == {"host": "a", "metric": 1}


def test_webhook_http_error_is_counted(http_server):
    rt = activate(Runtime())
    s = webhook(http_server.url + "/fail")
    s.send({"host": "a"})
    assert rt.drain(10)
    assert s.worker.counters()["failed"] == 1


def test_slack_and_pagerduty_payloads(http_server):
    rt = activate(Runtime())
    slack(http_server.url + "/slack", channel="#ops").send({"host": "a", "service": "cpu", "state": "critical"})
    pd = pagerduty("KEY", url=http_server.url + "/v2/enqueue")
    pd.trigger.send({"host": "a", "service": "cpu", "state": "critical", "metric": 0.99})
    pd.resolve.send({"host": "a", "service": "cpu", "state": "ok"})
    assert rt.drain(10)
    by_path = {}
    for path, _, body in http_server.requests:
        by_path.setdefault(path, []).append(json.loads(body))
    assert by_path["/slack"] == [{"text": "*a* cpu is *critical*", "username": "dmon", "channel": "#ops"}]
    trig, res = by_path["/v2/enqueue"]
    assert trig["event_action"] == "trigger" and trig["routing_key"] == "KEY"
    assert trig["dedup_key"] == "a cpu" and trig["payload"]["severity"] == "critical"
    assert res == {"routing_key": "KEY", "event_action": "resolve", "dedup_key": "a cpu"}


def test_prometheus_push_text_format(http_server):
    rt = activate(Runtime())
    host, port = http_server.server_address
    s = prometheus_push(host, port, job="j")
    s.send({"host": "web-1", "service": "cpu load", "metric": 2})
    s.send({"host": "web-1", "service": "nometric"})
    assert rt.drain(10)
    assert [(p, b) for p, _, b in http_server.requests] == [("/metrics/job/j/host/web-1", b"cpu_load 2.0\n")]


def test_graphite_plaintext_over_one_tcp_connection():
    lines, conns = [], []
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def accept():
        c, _ = srv.accept()
        conns.append(c)
        buf = b""
        while buf.count(b"\n") < 2:
            d = c.recv(4096)
            if not d:
                break
            buf += d
        lines.extend(buf.decode().splitlines())
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    rt = activate(Runtime())
    g = graphite("127.0.0.1", srv.getsockname()[1])
    g.send({"host": "web-1.example.com", "service": "latency 0.95", "metric": 12, "time": 100.7})
    g.send({"host": "a", "service": "no metric"})
    g.send([{"host": "a", "service": "cpu", "metric": 0.5, "time": 101}])
    assert rt.drain(10)
    t.join(10)
    srv.close()
    for c in conns:
        c.close()
    assert lines == ["com.example.web-1.latency.95 12.0 100", "a.cpu 0.5 101"]


def test_log_writes_json_lines_at_level(caplog):
    with caplog.at_level(logging.INFO, logger="dmon.events"):
        log("warning").send({"host": "web-1", "state": "critical"})
        log().send([{"host": "a"}])
    recs = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "dmon.events"]
    assert recs == [("WARNING", '{"host": "web-1", "state": "critical"}'), ("INFO", '[{"host": "a"}]')]
    with pytest.raises(ValueError):
        log("loud")


def test_stdout_prints_json(capsys):
    stdout().send({"host": "a", "metric": 1})
    assert capsys.readouterr().out == '{"host": "a", "metric": 1}\n'


def test_log_file_appends(tmp_path):
    rt = activate(Runtime())
    p = tmp_path / "e.log"
    s = log_file(str(p))
    s.send({"host": "a"})
    s.send({"host": "b"})
    assert rt.drain(10)
    assert [json.loads(l)["host"] for l in p.read_text().splitlines()] == ["a", "b"]


def test_outputs_never_block_a_full_queue_drops_and_counts(smtp_server):
    rt = activate(Runtime(config={"smtp_host": "127.0.0.1", "smtp_port": smtp_server.server_address[1]}))
    gate = threading.Event()
    w = rt.worker("email", maxsize=2)
    w.submit(lambda: gate.wait(10))  # occupy the worker
    out = email("a@b.c")
    results = [out.send({"host": str(i)}) for i in range(5)]
    gate.set()
    assert rt.drain(10)
    assert results.count(False) >= 2 and w.counters()["dropped"] == results.count(False)


def test_outputs_are_shared_by_by_forks():
    from dmon import by
    rt = activate(Runtime())
    rt.captured = []
    out = webhook("http://127.0.0.1:9/x")
    s = by("host", out)
    for h in "abc":
        s.send({"host": h})
    assert len(s.forks) == 3 and all(f[0][0] is out for f in s.forks.values())
    assert [e["host"] for _, e in rt.captured] == ["a", "b", "c"]
