"""Issue 10's Python-lambda scenario: a user predicate in front of the index (native where calling the lambda)."""

from dmon import index, where

stream = where(lambda e: e["service"] != "none", index())
