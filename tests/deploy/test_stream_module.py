"""The stream module in the ConfigMap imports and defines a stream (dmon.shell --check), as
dmond in the pod will need; so a broken module fails here, not as a crash-looping pod."""

import os
import subprocess

import pytest

from conftest import K8S, SOURCE, mutate
import manifests as mf


def check_module(k8s_dir, tmp_path):
    data = mf.load(k8s_dir)
    cm = next(c for c in mf.docs(data, "ConfigMap") if c["metadata"]["name"] == "dmon-config")
    module = mf.parse_conf(cm["data"]["dmon.conf"])["streams"]
    d = tmp_path / "etc-dmon"
    d.mkdir()
    for key, text in cm["data"].items():
        (d / key).write_text(text)
    env = dict(os.environ, PYTHONPATH=f"{SOURCE / 'pystreams'}:{d}", PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(["/usr/bin/python3", "-m", "dmon.shell", "--check", module],
                          capture_output=True, text=True, env=env, timeout=60)


def test_configmap_stream_module_loads(tmp_path):
    r = check_module(K8S, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "alert_stream" in r.stdout


@pytest.mark.parametrize("old, new, expect", [
    ("from dmon import default,", "from dmon import defualt,", "ImportError"),
    ("    stream = default(\"ttl\", 60, index())", "    stream = default(\"ttl\", 60, index()", "SyntaxError"),
    ("where('state = \"warning\"", "where('state = = \"warning\"", "does not load"),
], ids=["bad-import", "syntax-error", "bad-query"])
def test_stream_module_check_catches_a_broken_module(k8s_copy, tmp_path, old, new, expect):
    mutate(k8s_copy / "10-configmap.yaml", old, new)
    r = check_module(k8s_copy, tmp_path)
    assert r.returncode == 1 and expect in r.stderr, r.stdout + r.stderr


def test_stream_module_check_catches_a_module_without_streams(k8s_copy, tmp_path):
    mutate(k8s_copy / "10-configmap.yaml", "    stream = default(", "    keep = default(")
    mutate(k8s_copy / "10-configmap.yaml", "    alert_stream = sdo(", "    alerts = sdo(")
    r = check_module(k8s_copy, tmp_path)
    assert r.returncode == 1 and "defines no stream" in r.stderr, r.stdout + r.stderr
