"""The example stream module the server runs by default."""

import logging
import sys
from pathlib import Path

from dmon.testing import Harness

EXAMPLES = str(Path(__file__).resolve().parents[2] / "pystreams" / "examples")


def test_example_indexes_with_default_ttl_and_logs_problems(caplog, monkeypatch):
    monkeypatch.syspath_prepend(EXAMPLES)
    h = Harness(start=100)
    roots = h.load("streams")
    assert [n for n, _ in roots] == ["stream", "alert_stream"]
    with caplog.at_level(logging.INFO, logger="dmon.events"):
        h.inject([
            {"host": "web-1", "service": "cpu", "state": "warning", "metric": 0.9, "time": 100},
            {"host": "web-1", "service": "disk", "state": "ok", "metric": 0.1, "time": 100},
            {"host": "web-2", "service": "cpu", "state": "critical", "time": 100, "ttl": 5},
        ])
    assert h.lookup("web-1", "cpu")["ttl"] == 60
    assert h.lookup("web-2", "cpu")["ttl"] == 5
    logged = [r.getMessage() for r in caplog.records if r.name == "dmon.events"]
    assert len(logged) == 2 and '"state": "warning"' in logged[0] and "web-2" in logged[1]

    caplog.clear()
    h.advance_to(106)
    with caplog.at_level(logging.INFO, logger="dmon.events"):
        expired = h.expire()  # the reaper re-injects {"state": "expired"} into the roots
    assert [e["host"] for e in expired] == ["web-2"]
    assert h.lookup("web-2", "cpu") is None
    assert any('"state": "expired"' in r.getMessage() for r in caplog.records)
