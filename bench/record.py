"""Appends one benchmark record to a JSON-lines file: dmon-load's JSON line plus the server's figures (used by run.sh)."""

import json
import sys


def number(value: str):
    """Numbers stay numbers so report.py can divide."""
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


def add_reopen(path: str, scenario: str, clean_ms: str, clean_n: str, crash_ms: str,
               crash_n: str) -> None:
    """Adds the reopen times (ms; -1 when dmond logged none) to the scenario's dmond record."""
    recs = [json.loads(line) for line in open(path) if line.strip()]
    for r in recs:
        if r.get("scenario") == scenario and r.get("server") == "dmond":
            r.update(reopen_clean_ms=number(clean_ms or "-1"),
                     reopen_clean_entries=number(clean_n or "-1"),
                     reopen_crash_ms=number(crash_ms or "-1"),
                     reopen_crash_entries=number(crash_n or "-1"))
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in recs)


def main() -> None:
    if sys.argv[1] == "--reopen":
        add_reopen(*sys.argv[2:8])
        return
    # argv: records-file client-json key=value...
    path, client = sys.argv[1], sys.argv[2]
    rec = json.loads(client) if client.strip() else {}
    for arg in sys.argv[3:]:
        key, _, value = arg.partition("=")
        rec[key] = number(value)
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
