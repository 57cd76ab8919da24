"""`kubectl kustomize deploy/k8s` renders offline: what `kubectl apply -k deploy/k8s` would send.
Skipped where kubectl is not installed (it needs no cluster for this)."""

import shutil
import subprocess

import pytest

from conftest import K8S, mutate

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed: kustomize rendering not checked")


def kustomize(d):
    return subprocess.run([KUBECTL, "kustomize", str(d)], capture_output=True, text=True, timeout=60)


def test_kustomization_renders_every_object_with_the_pinned_image():
    r = kustomize(K8S)
    assert r.returncode == 0, r.stderr
    for kind in ("Namespace", "ConfigMap", "Service", "StatefulSet", "PodDisruptionBudget"):
        assert f"kind: {kind}\n" in r.stdout
    assert r.stdout.count("kind: Service\n") == 2
    assert "image: dmon:0.1.0" in r.stdout


def test_kustomize_catches_a_missing_resource(k8s_copy):
    mutate(k8s_copy / "kustomization.yaml", "  - 40-pdb.yaml", "  - 40-pdb.yml")
    r = kustomize(k8s_copy)
    assert r.returncode != 0 and "40-pdb.yml" in r.stderr, r.stderr


def test_kustomize_catches_broken_yaml(k8s_copy):
    mutate(k8s_copy / "40-pdb.yaml", "  maxUnavailable: 1", "   maxUnavailable: 1\n  - x")
    r = kustomize(k8s_copy)
    assert r.returncode != 0, r.stdout


def test_the_deploy_folder_renders_the_same_objects():
    # `kubectl apply -k deploy/` is what a user types; it must send exactly deploy/k8s.
    top = kustomize(K8S.parent)
    assert top.returncode == 0, top.stderr
    assert top.stdout == kustomize(K8S).stdout
