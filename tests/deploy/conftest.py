"""Fixtures for the deploy checks: a mutable copy of deploy/k8s (or of the Dockerfile) per test,
so every validator can be shown to fail on a deliberately broken input."""

import pathlib
import shutil
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SOURCE = HERE.parent.parent
K8S = SOURCE / "deploy" / "k8s"
DOCKERFILE = SOURCE / "deploy" / "Dockerfile"


def mutate(path: pathlib.Path, old: str, new: str) -> None:
    """Replaces the one occurrence of old in path; fails if there is none or several, so a
    mutation can never silently miss after the manifests change."""
    text = path.read_text()
    assert text.count(old) == 1, f"{path.name}: expected exactly one {old!r}, found {text.count(old)}"
    path.write_text(text.replace(old, new))


@pytest.fixture
def k8s_copy(tmp_path) -> pathlib.Path:
    """A copy of deploy/k8s to break."""
    d = tmp_path / "k8s"
    shutil.copytree(K8S, d)
    return d


@pytest.fixture
def dockerfile_copy(tmp_path) -> pathlib.Path:
    """A copy of deploy/Dockerfile to break."""
    f = tmp_path / "Dockerfile"
    shutil.copy(DOCKERFILE, f)
    return f
