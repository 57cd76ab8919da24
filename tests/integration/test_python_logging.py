"""What stream code says through Python's logging reaches dmond's log with its level."""

import re

from riemann_wire import Connection, make_event, msg_with

CHATTY = """
import logging
log = logging.getLogger("chatty_streams")
log.info("module loaded, %d rules", 3)
log.debug("debug detail at import")

class _Chatty:
    def send(self, event):
        if event.get("service") == "odd":
            log.warning("odd service from %s", event.get("host"))
        else:
            log.info("saw %s", event.get("service"))

stream = _Chatty()
"""


def line_of(log: str, level: str, text: str) -> bool:
    return re.search(rf"^\S+ {level} python chatty_streams: {re.escape(text)}$", log,
                     re.MULTILINE) is not None


def test_module_logging_appears_in_dmond_log_with_levels(node_factory):
    n = node_factory(CHATTY)
    with Connection(n.tcp) as c:
        assert c.request(msg_with([make_event(host="h1", service="odd")])).ok
        assert c.request(msg_with([make_event(host="h1", service="cpu")])).ok
    assert n.wait_log(r"python chatty_streams: saw cpu")
    log = n.log()
    assert line_of(log, "info", "module loaded, 3 rules"), log
    assert line_of(log, "warning", "odd service from h1"), log
    assert line_of(log, "info", "saw cpu"), log
    # dmond runs at info: Python's debug is filtered the same way as dmond's own.
    assert "debug detail at import" not in log


def test_python_logging_follows_the_log_level(node_factory):
    n = node_factory(CHATTY, args=["--log-level", "warn"])
    with Connection(n.tcp) as c:
        assert c.request(msg_with([make_event(host="h2", service="odd")])).ok
        assert c.request(msg_with([make_event(host="h2", service="cpu")])).ok
    assert n.wait_log(r"python chatty_streams: odd service from h2")
    log = n.log()
    assert "module loaded" not in log and "saw cpu" not in log
