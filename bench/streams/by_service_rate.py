"""The same rates as regroup_rate without regroup: per service, but one per shard that sees it."""

from dmon import by, index, rate

stream = by(["service"], rate(1, index()))
