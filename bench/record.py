"""Appends one benchmark record to a JSON-lines file: dmon-load's JSON line plus the server's figures (used by run.sh)."""

import json
import sys


def main() -> None:
    # argv: records-file client-json key=value...; numbers stay numbers so report.py can divide.
    path, client = sys.argv[1], sys.argv[2]
    rec = json.loads(client) if client.strip() else {}
    for arg in sys.argv[3:]:
        key, _, value = arg.partition("=")
        try:
            rec[key] = int(value)
        except ValueError:
            try:
                rec[key] = float(value)
            except ValueError:
                rec[key] = value
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
