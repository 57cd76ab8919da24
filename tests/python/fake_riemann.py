"""A Riemann-ish TCP server for the server-free tests (forward, the connected shell)."""

from __future__ import annotations

import socket
import threading
import time

from dmon.query import compile_query
from dmon.wire import WireError, decode_msg, encode_msg, frame, read_frame


class FakeRiemann:
    """A Riemann-ish TCP server in a thread: decodes each framed Msg with dmon.wire,
    records events, answers queries (dmon.query) over every event it got, replies ok (or what `reply` says).
    `close_first` connections are closed after reading one frame without replying."""

    def __init__(self, close_first: int = 0, reply=None):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.msgs: list[dict] = []
        self.connections = 0
        self.close_first = close_first
        self.reply = reply
        self.lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def events(self) -> list[dict]:
        with self.lock:
            return [e for m in self.msgs for e in m["events"]]

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            n = self.connections
            threading.Thread(target=self._serve, args=(conn, n), daemon=True).start()

    def _serve(self, conn, n):
        with conn:
            while True:
                try:
                    payload = read_frame(conn)
                except (WireError, OSError):
                    return
                msg = decode_msg(payload)
                with self.lock:
                    self.msgs.append(msg)
                if n <= self.close_first:
                    return  # took the batch, lost the reply: the client must resend
                if msg["query"] is not None:
                    try:
                        match = compile_query(msg["query"])
                    except Exception as exc:  # noqa: BLE001 - the reply says what went wrong
                        out = encode_msg(ok=False, error=f"parse error: {exc}")
                    else:
                        out = encode_msg([e for e in self.events if match(e)], ok=True)
                elif self.reply is not None:
                    out = self.reply(msg)
                else:
                    out = encode_msg(ok=True)
                conn.sendall(frame(out))

    def wait(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.events) < count:
            time.sleep(0.01)
        return self.events

    def close(self):
        self._stop = True
        self.sock.close()


