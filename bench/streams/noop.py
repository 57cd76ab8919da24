"""A stream module that drops every event: what remains is the bridge's own cost (dict, one send per event)."""

from dmon import bit_bucket

stream = bit_bucket()
