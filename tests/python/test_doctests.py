"""Every docstring example in the dmon package runs and gives what it shows."""

import doctest
import importlib
import pkgutil

import pytest

import dmon
from dmon.runtime import Runtime, activate

MODULES = sorted(m.name for m in pkgutil.iter_modules(dmon.__path__, "dmon."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    activate(Runtime())
    mod = importlib.import_module(name)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
