"""A heavier stream module for dmon's benchmarks: per-host rates into the index, plus per-key state changes."""

# What a busy production config does per event beyond indexing it: fork by host
# (one dict lookup and one child per host), keep a rate per host that the tick
# flushes into the index, and track every (host, service) state so changes can
# alert. bench/run.sh runs it with `dmond --streams heavy --python-path bench/streams`.

from dmon import bit_bucket, by, changed_state, default, index, rate, with_

# Every event is indexed, as in the example module, so the index stays comparable.
stream = default("ttl", 60, index())

# Per host: the summed metric rate over 5 s, indexed under its own service name.
rate_stream = by(["host"], lambda: rate(5, with_("service", "events rate", index())))

# Per host and service: only changes of state pass (to nowhere here: the cost is the tracking).
state_stream = changed_state(bit_bucket())
