"""regroup's cost: one rate per service over all hosts, on the service's owner (compare by_service_rate)."""

from dmon import index, rate, regroup

stream = regroup(["service"], rate(1, index()))
