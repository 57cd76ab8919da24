"""Issue 10's all-native scenario: a query-string where, by host, a 5 s rate into the index."""

from dmon import by, index, rate, where

stream = where('service = "svc-1"', by(["host"], lambda: rate(5, index())))
