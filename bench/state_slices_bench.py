"""Cost of moving per-key stream state (issue 7): dmon.state.snapshot + split_keys + dumps
(what export_keys does on the Python path, and on the native path after the engine's state is
read) and merge + import_keys, for a changed_state over N keys. Prints one line per N.

    PYTHONPATH=pystreams /usr/bin/python3 bench/state_slices_bench.py 10000 100000
"""

import sys
import time

import dmon.state
from dmon import changed_state
from dmon.runtime import Runtime, activate


def main(sizes):
    for n in sizes:
        activate(Runtime())
        s = changed_state()
        for i in range(n):
            s.send({"host": f"host-{i}", "service": "cpu", "state": "ok", "time": 1.0})
        t0 = time.perf_counter()
        roots = [("alerts", s)]
        parts = dmon.state.split_keys(dmon.state.snapshot(roots, only=dmon.state.keyed_paths(roots)))
        texts = [dmon.state.dumps(p) for p in parts.values()]
        t1 = time.perf_counter()
        activate(Runtime())
        b = changed_state()
        dmon.state.import_keys([("alerts", b)], [dmon.state.loads(t) for t in texts])
        t2 = time.perf_counter()
        size = sum(map(len, texts))
        print(f"keys={n} export={1e3 * (t1 - t0):.0f} ms ({1e6 * (t1 - t0) / n:.1f} us/key) "
              f"import={1e3 * (t2 - t1):.0f} ms ({1e6 * (t2 - t1) / n:.1f} us/key) "
              f"bytes/key={size / n:.0f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10000, 100000])
