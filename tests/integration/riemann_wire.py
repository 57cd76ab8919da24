"""A minimal Riemann protobuf client for tests: length-prefixed Msgs over TCP, datagrams over UDP."""

from __future__ import annotations

import socket
import struct

import riemann_pb2  # generated at build time from proto/riemann.proto


def make_event(**fields) -> riemann_pb2.Event:
    e = riemann_pb2.Event()
    for key, value in fields.items():
        if key == "tags":
            e.tags.extend(value)
        elif key == "attributes":
            for k, v in value.items():
                a = e.attributes.add()
                a.key, a.value = k, v
        else:
            setattr(e, key, value)
    return e


def msg_with(events=(), query: str | None = None) -> bytes:
    m = riemann_pb2.Msg()
    m.events.extend(events)
    if query is not None:
        m.query.string = query
    return m.SerializeToString()


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


class Connection:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 20.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, payload: bytes) -> None:
        self.sock.sendall(frame(payload))

    def recv_reply(self) -> riemann_pb2.Msg | None:
        """Returns the next reply, or None when the server closed the connection."""
        while len(self.buf) < 4 or len(self.buf) < 4 + struct.unpack(">I", self.buf[:4])[0]:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        n = struct.unpack(">I", self.buf[:4])[0]
        payload, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
        reply = riemann_pb2.Msg()
        reply.ParseFromString(payload)
        return reply

    def request(self, payload: bytes) -> riemann_pb2.Msg | None:
        self.send(payload)
        return self.recv_reply()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def send_udp(port: int, payload: bytes, host: str = "127.0.0.1") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(payload, (host, port))
