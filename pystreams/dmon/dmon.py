"""`python3 -m dmon.dmon [args]`: start the dmond server (exec) with the same environment and arguments."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["find_dmond", "main"]


def find_dmond() -> str:
    """Where dmond is: ``$DMON_DMOND``, else ``dmond`` on ``PATH``, else the build tree
    next to this package (``build/actors/dmond``, ``build/dmond``).

    Raises FileNotFoundError with what to do when none exists.
    """
    env = os.environ.get("DMON_DMOND")
    if env:
        if os.path.isfile(env) and os.access(env, os.X_OK):
            return env
        raise FileNotFoundError(f"DMON_DMOND={env} is not an executable file")
    on_path = shutil.which("dmond")
    if on_path:
        return on_path
    repo = Path(__file__).resolve().parent.parent.parent
    for candidate in (repo / "build" / "actors" / "dmond", repo / "build" / "dmond"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise FileNotFoundError(
        f"dmond not found: build it with `cmake -S {repo} -B {repo / 'build'} && "
        f"cmake --build {repo / 'build'}` (see README), put it on PATH, or set DMON_DMOND "
        f"to its path")


def main(argv: list[str] | None = None) -> int:
    """Replace this process with dmond; returns 2 (and says why) if it cannot be found."""
    args = sys.argv[1:] if argv is None else argv
    try:
        path = find_dmond()
    except FileNotFoundError as exc:
        print(f"dmon: {exc}", file=sys.stderr)
        return 2
    os.execv(path, [path, *args])
    return 0  # not reached: execv replaces the process


if __name__ == "__main__":
    sys.exit(main())
