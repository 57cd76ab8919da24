"""Issue 10's all-built-in scenario: one service, split by host, a 5 s rate per host into the index."""

# With dmon-load's keys (host-N x svc-M) one service in `services` passes the filter; each
# host's rate is indexed on every tick. Only built-ins, so a native stream graph runs it
# without Python per event once that lands.

from dmon import by, index, rate, where

stream = where('service = "svc-1"', by(["host"], lambda: rate(5, index())))
