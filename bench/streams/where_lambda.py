"""Issue 10's Python-lambda scenario: a user function filters, every passing event is indexed."""

# Every benchmark event passes (no service is "none"): the cost measured is one call of a
# user lambda per event on top of index().

from dmon import index, where

stream = where(lambda e: e["service"] != "none", index())
