"""`python3 -m dmon.dmon`: finding and exec'ing dmond."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dmon import dmon as launcher

PYSTREAMS = str(Path(launcher.__file__).resolve().parent.parent)


def test_env_var_wins_and_must_be_executable(tmp_path, monkeypatch):
    exe = tmp_path / "dmond"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setenv("DMON_DMOND", str(exe))
    assert launcher.find_dmond() == str(exe)
    monkeypatch.setenv("DMON_DMOND", str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="DMON_DMOND"):
        launcher.find_dmond()


def test_path_is_searched(tmp_path, monkeypatch):
    exe = tmp_path / "dmond"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.delenv("DMON_DMOND", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert launcher.find_dmond() == str(exe)


def test_not_found_says_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.delenv("DMON_DMOND", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(launcher, "__file__", str(tmp_path / "a" / "b" / "dmon.py"))
    with pytest.raises(FileNotFoundError) as exc:
        launcher.find_dmond()
    assert "dmond not found: build it with" in str(exc.value) and "DMON_DMOND" in str(exc.value)


def test_module_execs_dmond_with_same_args_and_environment(tmp_path):
    exe = tmp_path / "dmond"
    exe.write_text('#!/bin/sh\necho "args:$*"\necho "env:$DMON_MARK"\n')
    exe.chmod(0o755)
    env = dict(os.environ, DMON_DMOND=str(exe), DMON_MARK="kept", PYTHONPATH=PYSTREAMS)
    r = subprocess.run([sys.executable, "-m", "dmon.dmon", "--streams", "x", "-v"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == "args:--streams x -v\nenv:kept\n"


def test_module_exits_2_with_a_message_when_missing(tmp_path):
    env = dict(os.environ, DMON_DMOND=str(tmp_path / "missing"), PYTHONPATH=PYSTREAMS)
    r = subprocess.run([sys.executable, "-m", "dmon.dmon"], env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and "dmon:" in r.stderr
