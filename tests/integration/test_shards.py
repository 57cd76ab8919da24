"""Several shards: every key owned by one shard, per-key order kept, events spread out."""

import json

from riemann_wire import Connection, make_event, msg_with

SHARD_RECORDER = """
import json, os
from dmon.runtime import current
_out = open(os.environ["DMON_TEST_OUT"], "a", buffering=1)
_me = id(current())  # one runtime per shard

class _Rec:
    def send(self, event):
        _out.write(json.dumps({"shard": _me, "host": event["host"], "seq": event["metric"]}) + "\\n")

stream = _Rec()
"""


def test_keys_are_owned_by_one_shard_and_keep_their_order(node_factory):
    n = node_factory(SHARD_RECORDER, args=["--shards", "4"])
    hosts = [f"host-{i}" for i in range(40)]
    with Connection(n.tcp) as c:
        for seq in range(20):
            events = [make_event(host=h, service="cpu", metric_sint64=seq) for h in hosts]
            assert c.request(msg_with(events)).ok
    seen = n.wait_seen(800)
    assert len(seen) == 800
    owner = {}
    per_host = {}
    for e in seen:
        assert owner.setdefault(e["host"], e["shard"]) == e["shard"]
        per_host.setdefault(e["host"], []).append(e["seq"])
    assert all(seqs == list(range(20)) for seqs in per_host.values())
    assert len(set(owner.values())) == 4  # 40 keys land on all 4 shards
