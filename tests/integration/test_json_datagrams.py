"""The original dmon JSON datagram protocol: good events in, bad ones rejected with a reason."""

import json
import re

from riemann_wire import send_udp


def test_seed_format_event(node):
    send_udp(node.json_udp, json.dumps({
        "host": "web-1", "service": "cpu", "state": "warning", "description": "hot",
        "time": 1_700_000_000, "ttl": 30, "metric": 0.93}).encode())
    (e,) = node.wait_seen(1)
    assert e == {"host": "web-1", "service": "cpu", "state": "warning", "description": "hot",
                 "time": 1_700_000_000.0, "ttl": 30.0, "metric": 0.93}


def test_every_field_optional_plus_tags_and_attributes(node):
    send_udp(node.json_udp, b"{}")
    send_udp(node.json_udp, json.dumps({"host": "h", "tags": ["x"],
                                        "attributes": {"rack": "r1"}}).encode())
    seen = node.wait_seen(2)
    assert len(seen) == 2
    assert all("time" in e for e in seen)  # server time when absent
    tagged = [e for e in seen if e.get("host") == "h"][0]
    assert tagged["tags"] == ["x"] and tagged["attributes"] == {"rack": "r1"}


def test_malformed_and_wrongly_typed_datagrams_are_rejected_and_counted(node):
    send_udp(node.json_udp, b"{not json")
    send_udp(node.json_udp, json.dumps({"host": "h", "metric": "high"}).encode())
    send_udp(node.json_udp, json.dumps({"host": "ok"}).encode())
    assert [e["host"] for e in node.wait_seen(1)] == ["ok"]
    assert node.wait_log(r"rejected a datagram")
    assert node.stop() == 0
    log = node.log()
    m = re.search(r"stats json-udp \S+: messages=(\d+) .* rejected=(\d+)", log)
    assert m and m.group(1) == "3" and m.group(2) == "2", log
