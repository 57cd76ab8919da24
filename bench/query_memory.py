"""Peak memory of dmond while it answers `true` over TCP and over HTTP, on a copy of a big index.

Each answer runs in a fresh dmond (freed memory stays with the process, so one run would hide
the next), on a copy of a data directory that `index_bench --dir D --keep` built (1M keys by
default). The peak is VmHWM after resetting it (`/proc/PID/clear_refs` = 5) just before the
query; the client discards what it reads.

    build/index_bench --dir /tmp/idx-1m --keep
    /usr/bin/python3 bench/query_memory.py --data /tmp/idx-1m build/dmond [other/dmond ...]
"""

import argparse
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "build" / "tests" / "integration" / "gen"))
import riemann_pb2  # noqa: E402
from riemann_wire import msg_with  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_mb(pid: int, key: str) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key):
            return int(line.split()[1]) // 1024
    raise KeyError(key)


def run(dmond: str, source: Path, how: str, work: Path) -> None:
    data = work / "data"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(source, data)
    (work / "bench_module.py").write_text("from dmon import index\nstream = index()\n")
    tcp, http = free_port(), free_port()
    # No expiry sweep during the run: the bench's events may be past their ttl.
    p = subprocess.Popen([dmond, "--tcp-port", str(tcp), "--udp-port", "0", "--json-udp-port", "0",
                          "--http-port", str(http), "--data-dir", str(data), "--python-path",
                          str(work), "--streams", "bench_module", "--stats-interval", "0",
                          "--reap-interval", "86400"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 120
        while not p.stdout.readline().startswith("dmond ready"):
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{dmond} did not start")
        time.sleep(1)
        base = status_mb(p.pid, "VmRSS")
        Path(f"/proc/{p.pid}/clear_refs").write_text("5")
        started = time.monotonic()
        if how == "tcp":
            # Raw frames, so the time is the server's (receiving), not the client's parsing.
            with socket.create_connection(("127.0.0.1", tcp)) as c:
                payload = msg_with(query="true")
                c.sendall(struct.pack(">I", len(payload)) + payload)
                size = struct.unpack(">I", c.recv(4, socket.MSG_WAITALL))[0]
                reply = bytearray()
                while len(reply) < size:
                    reply += c.recv(min(1 << 20, size - len(reply)))
            took = time.monotonic() - started
            msg = riemann_pb2.Msg()
            msg.ParseFromString(bytes(reply))
            n = len(msg.events)
        else:
            n = 0
            url = f"http://127.0.0.1:{http}/index?query=true"
            with urllib.request.urlopen(url, timeout=600) as r:
                while chunk := r.read(1 << 20):
                    n += chunk.count(b'"service"')
            took = time.monotonic() - started
        peak = status_mb(p.pid, "VmHWM")
        print(f"{how:4} {dmond}: {n} events in {took:.2f} s; RSS {base} MB before, "
              f"peak {peak} MB during (+{peak - base} MB)", flush=True)
    finally:
        p.terminate()
        p.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, type=Path, help="a data directory to copy")
    ap.add_argument("dmond", nargs="+")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dmon-query-memory-") as work:
        for dmond in args.dmond:
            for how in ("tcp", "http"):
                run(dmond, args.data, how, Path(work))


if __name__ == "__main__":
    main()
