"""The leanest useful stream module, issue 10's first scenario: every event into the index, nothing else."""

from dmon import index

stream = index()
