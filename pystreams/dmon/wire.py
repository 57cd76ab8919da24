"""Riemann's protobuf wire format in pure Python: Msg/Event/Attribute/Query (proto2,
field numbers of ``proto/riemann.proto``), 4-byte big-endian length framing over TCP,
and a small blocking :class:`Client`. Used by the ``forward`` output and the shell's
connected mode; no third-party packages.

Events are dmon's dicts. Encoding writes ``time`` as ``time_micros`` plus whole-second
``time``, an int metric as ``metric_sint64`` and any other number as ``metric_d``,
always with ``metric_f`` beside it (old Riemann servers read only that), attributes as
strings; unknown top-level keys become attributes, as :func:`dmon.events.normalize`
does. Decoding follows dmond's codec: ``metric_sint64`` wins over ``metric_d`` over
``metric_f``, ``time_micros`` over ``time``, and attributes named like core fields are
dropped.

>>> payload = encode_msg([{"host": "a", "service": "cpu", "metric": 3, "time": 1.5}])
>>> decode_msg(payload)["events"]
[{'host': 'a', 'service': 'cpu', 'time': 1.5, 'metric': 3}]
"""

from __future__ import annotations

import socket
import struct
from typing import Any, Iterable, Mapping

from .events import CORE_KEYS, Event

__all__ = ["encode_event", "encode_msg", "encode_encoded", "decode_msg", "decode_event", "frame", "read_frame",
           "Client", "WireError", "MAX_FRAME"]

MAX_FRAME = 64 * 1024 * 1024
"""Largest reply frame :func:`read_frame` accepts (bytes)."""

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_MASK64 = (1 << 64) - 1
_pack_f = struct.Struct("<f").pack
_pack_d = struct.Struct("<d").pack
_unpack_f = struct.Struct("<f").unpack_from
_unpack_d = struct.Struct("<d").unpack_from
_FLT_MAX = 3.4028234663852886e38


class WireError(Exception):
    """A malformed protobuf message or frame, or a connection that ended mid-frame."""


# -- encoding ------------------------------------------------------------------------------


def _varint(n: int, out: bytearray) -> None:
    n &= _MASK64  # negative int64s are ten-byte two's complement varints
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _key(field: int, wire: int, out: bytearray) -> None:
    _varint((field << 3) | wire, out)


def _bytes_field(field: int, data: bytes, out: bytearray) -> None:
    _key(field, 2, out)
    _varint(len(data), out)
    out += data


def _str_field(field: int, s: Any, out: bytearray) -> None:
    _bytes_field(field, (s if isinstance(s, str) else str(s)).encode("utf-8"), out)


def _float32(x: float) -> bytes:
    try:
        return _pack_f(x)
    except OverflowError:  # beyond float32: what a C++ cast gives
        return _pack_f(float("inf") if x > 0 else float("-inf"))


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def encode_event(event: Mapping[str, Any]) -> bytes:
    """One Riemann ``Event`` message (without the Msg around it). ``None`` values are
    skipped; a non-numeric metric, time or ttl raises ``TypeError``.

    >>> encode_event({"host": "a"})
    b'"\\x01a'
    """
    out = bytearray()
    get = event.get
    t = get("time")
    if t is not None:
        if not isinstance(t, (int, float)) or isinstance(t, bool):
            raise TypeError(f"event time must be a number of unix seconds, got {t!r}")
        micros = int(round(t * 1_000_000)) if isinstance(t, float) else t * 1_000_000
        _key(1, 0, out)
        _varint(int(micros // 1_000_000) if micros >= 0 else -((-micros) // 1_000_000), out)
    for name, num in (("state", 2), ("service", 3), ("host", 4), ("description", 5)):
        v = get(name)
        if v is not None:
            _str_field(num, v, out)
    tags = get("tags")
    if tags:
        for tag in ([tags] if isinstance(tags, str) else tags):
            _str_field(7, tag, out)
    ttl = get("ttl")
    if ttl is not None:
        if not isinstance(ttl, (int, float)) or isinstance(ttl, bool):
            raise TypeError(f"event ttl must be a number of seconds, got {ttl!r}")
        _key(8, 5, out)
        out += _float32(float(ttl))
    attrs: dict[str, Any] = {}
    a = get("attributes")
    if a:
        attrs.update(a)
    for k, v in event.items():
        if k not in CORE_KEYS:
            attrs[k] = v
    for k, v in attrs.items():
        if v is None:
            continue
        body = bytearray()
        _str_field(1, k, body)
        _str_field(2, v, body)
        _bytes_field(9, bytes(body), out)
    if t is not None:
        _key(10, 0, out)
        _varint(micros, out)
    m = get("metric")
    if m is not None:
        if _is_int(m) and _INT64_MIN <= m <= _INT64_MAX:
            _key(13, 0, out)
            _varint((m << 1) ^ (m >> 63), out)  # zigzag
        elif isinstance(m, (int, float)) and not isinstance(m, bool):
            _key(14, 1, out)
            out += _pack_d(float(m))
        else:
            raise TypeError(f"event metric must be a number, got {m!r}")
        _key(15, 5, out)
        out += _float32(float(m))
    return bytes(out)


def encode_msg(events: Iterable[Mapping[str, Any]] = (), *, query: str | None = None,
               ok: bool | None = None, error: str | None = None) -> bytes:
    """A Riemann ``Msg``: events to send, a query, or (for servers) a reply.

    >>> encode_msg(query='service = "cpu"')
    b'*\\x11\\n\\x0fservice = "cpu"'
    >>> encode_msg(ok=True)
    b'\\x10\\x01'
    """
    out = bytearray()
    if ok is not None:
        _key(2, 0, out)
        out.append(1 if ok else 0)
    if error is not None:
        _str_field(3, error, out)
    if query is not None:
        q = bytearray()
        _str_field(1, query, q)
        _bytes_field(5, bytes(q), out)
    for e in events:
        _bytes_field(6, encode_event(e), out)
    return bytes(out)


def encode_encoded(events: Iterable[bytes]) -> bytes:
    """A Msg from events already encoded with :func:`encode_event` (lets a sender skip
    one bad event instead of failing the whole batch).

    >>> encode_encoded([encode_event({"host": "a"})]) == encode_msg([{"host": "a"}])
    True
    """
    out = bytearray()
    for e in events:
        _bytes_field(6, e, out)
    return bytes(out)


def frame(payload: bytes) -> bytes:
    """``payload`` with its 4-byte big-endian length in front (Riemann's TCP framing).

    >>> frame(b"ab")
    b'\\x00\\x00\\x00\\x02ab'
    """
    return struct.pack(">I", len(payload)) + payload


# -- decoding ------------------------------------------------------------------------------


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    n = len(buf)
    while True:
        if i >= n:
            raise WireError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & _MASK64, i
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than 10 bytes")


def _fields(buf: bytes):
    """Yield (field number, wire type, value) for every field of a message; value is an
    int for varints, bytes for the others."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _read_varint(buf, i)
        num, wire = key >> 3, key & 7
        if num == 0:
            raise WireError("field number 0")
        if wire == 0:
            v, i = _read_varint(buf, i)
            yield num, 0, v
        elif wire == 1:
            if i + 8 > n:
                raise WireError("truncated 64-bit field")
            yield num, 1, buf[i:i + 8]
            i += 8
        elif wire == 2:
            ln, i = _read_varint(buf, i)
            if i + ln > n:
                raise WireError("truncated length-delimited field")
            yield num, 2, buf[i:i + ln]
            i += ln
        elif wire == 5:
            if i + 4 > n:
                raise WireError("truncated 32-bit field")
            yield num, 5, buf[i:i + 4]
            i += 4
        else:
            raise WireError(f"unsupported wire type {wire} (field {num})")


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= (1 << 63) else v


def _text(b: bytes) -> str:
    return bytes(b).decode("utf-8", errors="replace")


_STRINGS = {2: "state", 3: "service", 4: "host", 5: "description"}
_ORDER = ("host", "service", "state", "description", "time", "ttl", "metric", "tags", "attributes")


def decode_event(buf: bytes) -> Event:
    """A dmon event dict from one Riemann ``Event`` message: ``time`` in (float when
    from ``time_micros``) unix seconds, ``metric`` an int or a float, ``tags`` a list,
    ``attributes`` a dict; absent fields stay absent.

    >>> decode_event(encode_event({"service": "x", "metric": 0.5, "tags": ["t"], "env": "prod"}))
    {'service': 'x', 'metric': 0.5, 'tags': ['t'], 'attributes': {'env': 'prod'}}
    """
    f: dict[str, Any] = {}
    tags: list[str] = []
    attrs: dict[str, str] = {}
    t_s = t_us = m_i = m_d = m_f = None
    for num, wire, v in _fields(buf):
        if num == 1 and wire == 0:
            t_s = _signed(v)
        elif 2 <= num <= 5 and wire == 2:
            f[_STRINGS[num]] = _text(v)
        elif num == 7 and wire == 2:
            tags.append(_text(v))
        elif num == 8 and wire == 5:
            f["ttl"] = _unpack_f(v)[0]
        elif num == 9 and wire == 2:
            k = val = None
            for anum, awire, av in _fields(v):
                if anum == 1 and awire == 2:
                    k = _text(av)
                elif anum == 2 and awire == 2:
                    val = _text(av)
            if k is None:
                raise WireError("attribute without its required key")
            if k not in CORE_KEYS:
                attrs[k] = "" if val is None else val
        elif num == 10 and wire == 0:
            t_us = _signed(v)
        elif num == 13 and wire == 0:
            m_i = (v >> 1) ^ -(v & 1)
        elif num == 14 and wire == 1:
            m_d = _unpack_d(v)[0]
        elif num == 15 and wire == 5:
            m_f = _unpack_f(v)[0]
    if t_us is not None:
        f["time"] = t_us / 1_000_000
    elif t_s is not None:
        f["time"] = t_s
    if m_i is not None:
        f["metric"] = m_i
    elif m_d is not None:
        f["metric"] = m_d
    elif m_f is not None:
        f["metric"] = m_f
    if tags:
        f["tags"] = tags
    if attrs:
        f["attributes"] = attrs
    # One key order whatever the field order on the wire: easier to read and compare.
    return {k: f[k] for k in _ORDER if k in f}


def decode_msg(buf: bytes) -> dict[str, Any]:
    """A Riemann ``Msg`` as ``{"ok": bool|None, "error": str|None, "query": str|None,
    "events": [event, ...]}`` (deprecated ``states`` are skipped).

    >>> decode_msg(encode_msg(ok=False, error="bad"))
    {'ok': False, 'error': 'bad', 'query': None, 'events': []}
    """
    msg: dict[str, Any] = {"ok": None, "error": None, "query": None, "events": []}
    for num, wire, v in _fields(bytes(buf)):
        if num == 2 and wire == 0:
            msg["ok"] = bool(v)
        elif num == 3 and wire == 2:
            msg["error"] = _text(v)
        elif num == 5 and wire == 2:
            q = ""
            for qnum, qwire, qv in _fields(v):
                if qnum == 1 and qwire == 2:
                    q = _text(qv)
            msg["query"] = q
        elif num == 6 and wire == 2:
            msg["events"].append(decode_event(v))
    return msg


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise WireError("connection closed by the server")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(sock: socket.socket) -> bytes:
    """Read one length-prefixed frame from ``sock``; raises :class:`WireError` when the
    peer closes first or announces more than :data:`MAX_FRAME` bytes."""
    (n,) = struct.unpack(">I", _recv_exact(sock, 4))
    if n > MAX_FRAME:
        raise WireError(f"frame of {n} bytes is larger than {MAX_FRAME}")
    return _recv_exact(sock, n)


# -- a blocking client -------------------------------------------------------------------


class Client:
    """A Riemann TCP client: one connection, opened on first use and reopened after a
    failure. Each call sends one Msg and reads the reply.

    ``send(events)`` returns the reply dict (``reply["ok"]``, ``reply["error"]``);
    ``query(q)`` returns the matching events and raises :class:`WireError` when the
    server says no. Network errors raise ``OSError`` (and close the connection, so
    the next call reconnects).

    >>> c = Client("127.0.0.1", 9, timeout=0.5); c.address
    ('127.0.0.1', 9)
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 5555, *, timeout: float = 5.0) -> None:
        self.address = (host, int(port))
        self.timeout = timeout
        self.sock: socket.socket | None = None

    def connect(self) -> "Client":
        """Open the connection now (else the first request does)."""
        if self.sock is None:
            s = socket.create_connection(self.address, timeout=self.timeout)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = s
        return self

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def request(self, payload: bytes) -> dict[str, Any]:
        """Send one encoded Msg, return the decoded reply."""
        self.connect()
        assert self.sock is not None
        try:
            self.sock.sendall(frame(payload))
            return decode_msg(read_frame(self.sock))
        except BaseException:
            self.close()
            raise

    def send(self, events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """Send events in one Msg; the server's reply (``ok`` True when accepted)."""
        return self.request(encode_msg(list(events)))

    def query(self, q: str) -> list[Event]:
        """Events in the server's index matching Riemann query ``q``."""
        reply = self.request(encode_msg(query=q))
        if not reply["ok"]:
            raise WireError(f"query {q!r} failed: {reply['error'] or 'server said not ok'}")
        return reply["events"]

    def __enter__(self) -> "Client":
        return self.connect()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "connected" if self.sock is not None else "not connected"
        return f"<dmon Client {self.address[0]}:{self.address[1]} {state}>"
