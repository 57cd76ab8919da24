"""Shared pytest fixtures for the dmon package tests: a fresh active runtime per test."""

import pytest

from dmon.runtime import Runtime, activate, current


@pytest.fixture(autouse=True)
def fresh_runtime():
    """Each test starts with its own default runtime, so no state leaks between tests."""
    prev = current()
    rt = activate(Runtime())
    yield rt
    activate(prev)
