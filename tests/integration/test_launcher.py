"""`python3 -m dmon.dmon` starts the server, as the seed promised."""

import os
import signal
import subprocess
import time

from conftest import DMOND


def test_python_module_launches_a_serving_dmond(tmp_path):
    env = dict(os.environ, DMON_DMOND=DMOND, DMON_TCP_PORT="0", DMON_UDP_PORT="0",
               DMON_JSON_UDP_PORT="0", DMON_HTTP_PORT="0", DMON_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.Popen(["/usr/bin/python3", "-m", "dmon.dmon"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("dmond ready:"), proc.stderr.read()
        assert "streams=streams" in line
        assert (tmp_path / "data").is_dir()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
