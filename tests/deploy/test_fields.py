"""Unknown-field check (fields.mjs: TypeScript's excess-property check over kubernetes-models'
interfaces), for misspelled keys the schema check lets through."""

import pytest

from conftest import K8S, mutate
from manifests import node


def test_manifests_use_only_known_fields(tmp_path):
    r = node("fields.mjs", K8S, tmp_path / "ts")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "6 documents, 0 errors" in r.stdout


@pytest.mark.parametrize("file, old, new, expect", [
    ("30-statefulset.yaml", "terminationGracePeriodSeconds: 60", "terminationGracePeriodSecs: 60",
     "'\"terminationGracePeriodSecs\"' does not exist in type 'IPodSpec'"),
    ("20-service-headless.yaml", "publishNotReadyAddresses: true", "publishNotReadyAddress: true",
     "publishNotReadyAddress\"' does not exist"),
    ("30-statefulset.yaml", "mountPath: /etc/dmon\n              readOnly: true",
     "mountPath: /etc/dmon\n              readonly: true", "'\"readonly\"' does not exist in type 'IVolumeMount'"),
], ids=["pod-spec", "service-spec", "deep-in-a-container"])
def test_field_check_catches_a_misspelled_field(k8s_copy, tmp_path, file, old, new, expect):
    mutate(k8s_copy / file, old, new)
    # The schema check misses these; that is why this check exists.
    assert node("schema.mjs", k8s_copy).returncode == 0
    r = node("fields.mjs", k8s_copy, tmp_path / "ts")
    assert r.returncode == 1, r.stdout + r.stderr
    assert expect in r.stdout, r.stdout
    assert f"{file} " in r.stdout, "the error names the manifest file"
