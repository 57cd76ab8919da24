"""The example stream module dmond runs when no --streams / DMON_STREAM_MODULE is given."""

# A fresh node should do two things: remember the latest state of everything
# (the index, which queries and dashboards read), and tell the operator when
# something goes wrong. Copy this file, edit it, and point DMON_STREAM_MODULE at
# your copy (it must be importable from PYTHONPATH).

from dmon import default, expired, index, log, sdo, where

# Every event goes to the index; events that carry no ttl stay 60 seconds
# (Riemann's default), after which the reaper sends an "expired" event back in.
stream = default("ttl", 60, index())

# Warnings and criticals go to the server log at once, and so does anything that
# stopped reporting (expired), so a silent host is as visible as a loud one.
alert_stream = sdo(
    where('state = "warning" or state = "critical"', log("warning")),
    expired(log("warning")),
)
