"""Load a user's stream module as a fresh private instance and collect its root streams."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any

from .core import prime
from .runtime import Runtime, activate

__all__ = ["load", "rebuild", "load_module", "root_streams"]


def load_module(module_name: str, runtime: Runtime) -> ModuleType:
    """Execute a new instance of ``module_name`` (found on ``sys.path``) with ``runtime``
    active. ``sys.modules`` is left alone: every shard, and every rebuild, gets its own
    instance and so its own stream state. Import errors propagate unchanged."""
    activate(runtime)
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(
            f"stream module {module_name!r} not found on sys.path/PYTHONPATH "
            f"({', '.join(p or '.' for p in sys.path[:6])}, ...)", name=module_name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def root_streams(module: ModuleType) -> list[tuple[str, Any]]:
    """Every module-level name containing "stream" whose value has ``send`` (classes
    excluded), in definition order; generators never started are primed."""
    out = []
    for name, value in vars(module).items():
        if "stream" not in name or isinstance(value, (type, ModuleType)):
            continue
        send = getattr(value, "send", None)
        if send is None or not callable(send):
            continue
        out.append((name, prime(value)))
    return out


def load(module_name: str, runtime: Runtime) -> list[tuple[str, Any]]:
    """Activate ``runtime``, import a fresh instance of ``module_name`` and return its root
    streams as ``(name, stream)`` pairs; they also become ``runtime.roots``.

    Raises ``ValueError`` when the module defines no stream.

    >>> import sys, tempfile, pathlib
    >>> d = tempfile.mkdtemp(); sys.path.insert(0, d)
    >>> _ = pathlib.Path(d, "doc_streams.py").write_text("from dmon import index\\nstream = index()\\n")
    >>> rt = Runtime(clock=lambda: 1.0); [n for n, _ in load("doc_streams", rt)]
    ['stream']
    >>> rt.dispatch({"host": "a"}); rt.lookup("a", None)["time"]
    1.0
    """
    module = load_module(module_name, runtime)
    roots = root_streams(module)
    if not roots:
        names = [n for n in vars(module) if not n.startswith("__")]
        raise ValueError(
            f"module {module_name} defines no stream: name a module-level variable containing "
            f"'stream' (e.g. stream = where('state = \"critical\"', log())) whose value has a "
            f"send() method; it defines {names}")
    runtime.roots = list(roots)
    runtime.bind_regroups(roots)
    return roots


def rebuild(module_name: str, name: str, runtime: Runtime) -> Any:
    """A fresh instance of the root stream ``name`` (after it raised): re-executes the
    module with ``runtime`` active, closes the old root and swaps it in ``runtime.roots``.

    Closing cancels a built-in's timers and runs a generator's ``finally`` blocks
    (``generator.close()``), so neither keeps firing or holding resources next to its
    replacement. An exception raised while closing is reported through
    ``runtime.report_exception`` and the new root is installed anyway."""
    module = load_module(module_name, runtime)
    for n, s in root_streams(module):
        if n == name:
            for i, (old_name, old) in enumerate(runtime.roots):
                if old_name == name:
                    if old is not s:
                        _close_quietly(old, name, runtime)
                    runtime.roots[i] = (name, s)
                    break
            else:
                runtime.roots.append((name, s))
            runtime.bind_regroups([(name, s)])
            return s
    raise ValueError(f"module {module_name} no longer defines a root stream named {name!r}")


def _close_quietly(stream: Any, name: str, runtime: Runtime) -> None:
    close = getattr(stream, "close", None)
    if close is None or not callable(close):
        return
    try:
        close()
    except Exception as exc:
        # A generator that swallows GeneratorExit and yields again raises RuntimeError here.
        runtime.report_exception(f"closing root stream {name}", None, exc)
