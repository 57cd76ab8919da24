"""Schema check (schema.mjs, kubernetes-models' ajv validators from the K8s 1.33 OpenAPI)."""

import pytest

from conftest import K8S, mutate
from manifests import node


def test_manifests_pass_the_kubernetes_schema():
    r = node("schema.mjs", K8S)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "6 passed, 0 failed" in r.stdout


@pytest.mark.parametrize("file, old, new, expect", [
    ("30-statefulset.yaml", "podManagementPolicy: Parallel", "podManagementPolicy: Paralel",
     "/spec/podManagementPolicy must be equal to one of the allowed values"),
    ("30-statefulset.yaml", "replicas: 3", 'replicas: "three"', "/spec/replicas must be integer"),
    ("21-service-ingest.yaml", "targetPort: ingest-udp\n      protocol: UDP",
     "targetPort: ingest-udp\n      protocol: udp", "protocol"),
    ("30-statefulset.yaml", "memory: 2Gi", "memory: 2GB-x", "memory"),
    ("00-namespace.yaml", "kind: Namespace", "kind: Namespaces", "no kind Namespaces"),
], ids=["bad-enum", "wrong-type", "bad-protocol", "bad-quantity", "unknown-kind"])
def test_schema_check_catches_a_broken_manifest(k8s_copy, file, old, new, expect):
    mutate(k8s_copy / file, old, new)
    r = node("schema.mjs", k8s_copy)
    assert r.returncode == 1, r.stdout + r.stderr
    assert expect in r.stdout, r.stdout
