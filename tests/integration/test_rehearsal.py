"""deploy/rehearse.sh as a test: the StatefulSet's pods as dmond in network namespaces, 3 -> 4 -> 2.

One run of the script (about a minute) serves every test here; each step is its own test so a
failing step names itself. Skips, never fails, where network namespaces are refused (not root,
or a sandbox without CAP_NET_ADMIN): the script exits 77 then.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "rehearse.sh"
DMOND = os.environ.get("DMOND", str(REPO / "build" / "dmond"))


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    out = tmp_path_factory.mktemp("rehearsal")
    report = out / "report.json"
    proc = subprocess.run([str(SCRIPT), "--dmond", DMOND, "--events", "300",
                           "--report", str(report), "--workdir", str(out / "run")],
                          capture_output=True, text=True, timeout=240)
    if proc.returncode == 77:
        pytest.skip(proc.stdout.strip() or "network namespaces are refused here")
    assert proc.returncode in (0, 1), f"rehearse.sh failed to run:\n{proc.stdout}\n{proc.stderr}"
    assert report.exists(), f"no report:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(report.read_text())
    result["output"] = proc.stdout + proc.stderr
    return result


def step(rehearsal, name):
    if name not in rehearsal:
        # A missing step is a failure of its own kind, never mistaken for the expected one.
        pytest.fail(f"the rehearsal stopped before step {name}:\n{rehearsal['output']}")
    return rehearsal[name]


def test_three_pods_become_ready_and_acknowledge_every_event(rehearsal):
    s = step(rehearsal, "up3")
    assert s["ok"], s["message"] + "\n" + rehearsal["output"]
    assert rehearsal["acked"] == 300


def test_scaling_3_to_4_keeps_every_acknowledged_event_queryable(rehearsal):
    s = step(rehearsal, "join4")
    assert s["ok"], s["message"] + "\n" + rehearsal["output"]


def test_scaling_4_to_2_keeps_every_acknowledged_event_queryable(rehearsal):
    s = step(rehearsal, "leave2")
    assert s["ok"], s["message"] + "\n" + rehearsal["output"]
