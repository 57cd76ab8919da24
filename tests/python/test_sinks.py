"""publish(topic) and store(): the runtime's pubsub and history sinks, in plain Python and
with the callables the server passes."""

import pytest

from dmon import by, describe, fixed_event_window, publish, rate, store, where
from dmon.runtime import Runtime, activate
from dmon.testing import Harness


def test_publish_keeps_a_bounded_log_per_topic_and_passes_nothing_on():
    rt = activate(Runtime(config={"publish_log_size": 2}))
    s = publish("alerts")
    for m in range(3):
        s.send({"host": "a", "metric": m})
    publish("other").send({"host": "b"})
    assert [e["metric"] for e in rt.published("alerts")] == [1, 2]
    assert rt.published("other") == [{"host": "b"}] and rt.published("nobody") == []
    assert sorted(rt.topics()) == ["alerts", "other"]
    assert describe(s) == {"stream": "publish", "topic": "alerts"}
    assert rt.indexed() == []


def test_publish_normalizes_copies_and_sends_each_event_of_a_window():
    h = Harness()
    src = {"host": "a", "env": "prod", "state": None}
    s = h.build(lambda: fixed_event_window(2, publish("w")))
    s.send(src)
    s.send({"host": "b"})
    assert h.published("w") == [{"host": "a", "attributes": {"env": "prod"}}, {"host": "b"}]
    assert src == {"host": "a", "env": "prod", "state": None}  # never mutated


def test_subscribers_get_events_until_they_unsubscribe_and_a_failing_one_is_reported():
    errors = []
    rt = activate(Runtime(on_exception=lambda where, e, exc: errors.append((where, str(exc)))))
    got = []

    def bad(e):
        raise RuntimeError("slow consumer")
    rt.subscribe("t", bad)
    stop = rt.subscribe("t", got.append)
    s = publish("t")
    s.send({"metric": 1})
    stop()
    stop()  # twice is harmless
    s.send({"metric": 2})
    assert got == [{"metric": 1}]
    assert errors == [("subscriber of topic t", "slow consumer")] * 2


def test_publish_goes_to_the_servers_callable_and_python_subscribers():
    sent, local = [], []
    rt = activate(Runtime(publish=lambda topic, e: sent.append((topic, e))))
    rt.subscribe("t", local.append)
    where("metric > 1", publish("t")).send({"metric": 2})
    assert sent == [("t", {"metric": 2})] and local == [{"metric": 2}]
    assert rt.published("t") == []  # the server keeps it, not the in-memory log


def test_publish_needs_a_topic():
    with pytest.raises(ValueError):
        publish("")
    with pytest.raises(ValueError):
        publish(None)


def test_store_keeps_history_with_time_and_answers_ranges_and_queries():
    h = Harness(start=50)
    s = h.build(lambda: store())
    s.send({"host": "a", "service": "cpu", "metric": 1, "time": 10})
    s.send({"host": "b", "service": "cpu", "metric": 5, "time": 30})
    s.send({"host": "a", "service": "disk", "metric": 2, "time": 20})
    s.send({"host": "c", "service": "cpu", "metric": 7})  # no time: stored at now
    assert [e["time"] for e in h.history()] == [10, 20, 30, 50.0]  # oldest first
    assert [e["host"] for e in h.history('service = "cpu"', start=10, end=50)] == ["a", "b"]
    assert [e["host"] for e in h.history(lambda e: e["metric"] > 4)] == ["b", "c"]
    assert h.history(start=51) == [] and h.rt.indexed() == []
    assert describe(s) == {"stream": "store"}


def test_store_history_is_bounded_and_windows_store_every_event():
    h = Harness(config={"history_size": 3})
    s = h.build(lambda: fixed_event_window(2, store()))
    for t in range(5):
        s.send({"metric": t, "time": t})
    assert [e["metric"] for e in h.history()] == [1, 2, 3]


def test_store_goes_to_the_servers_callable_with_time_set():
    got = []
    rt = activate(Runtime(clock=lambda: 9.0, store=got.append))
    store().send({"host": "a", "extra": 1})
    assert got == [{"host": "a", "attributes": {"extra": "1"}, "time": 9.0}]
    assert rt.history() == []


def test_sinks_inside_by_forks_share_the_runtime():
    h = Harness()
    s = h.build(lambda: by("host", rate(1, publish("rates"), store())))
    s.send({"host": "a", "metric": 2})
    s.send({"host": "b", "metric": 4})
    h.advance(1)
    assert sorted((e["host"], e["metric"]) for e in h.published("rates")) == [("a", 2.0), ("b", 4.0)]
    assert len(h.history(start=1, end=2)) == 2
