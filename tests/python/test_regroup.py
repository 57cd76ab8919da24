"""regroup(): by() in plain Python, addresses that find the same stream on another runtime, and a
simulated cluster of runtimes that computes what one runtime computes."""

import textwrap
import zlib
from collections import deque

import pytest

from dmon import by, counter, index, rate, regroup, where, with_
from dmon.loader import load, rebuild
from dmon.native import plan
from dmon.runtime import Runtime, activate
from dmon.testing import run

EVENTS = [{"host": f"h{i % 7}", "service": f"s{i % 3}", "metric": i} for i in range(60)]


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name, source):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        return name
    return write


def test_in_plain_python_it_is_by_and_empty_fields_pass_through():
    def grouped(out):
        return regroup(["service"], counter(out))

    def forked(out):
        return by(["service"], counter(out))
    assert run(grouped, EVENTS) == run(forked, EVENTS)
    assert run(lambda out: regroup([], out), EVENTS) == EVENTS


def test_lists_are_regrouped_event_by_event():
    out = []
    regroup([], out.append).send([{"host": "a"}, {"host": "b"}])
    assert out == [{"host": "a"}, {"host": "b"}]


@pytest.mark.parametrize("fields", [["metric"], ["time"], ["tags"], [len], [""]])
def test_keys_are_built_from_string_fields_only(fields):
    with pytest.raises(ValueError, match="string fields"):
        regroup(fields, index())


def test_idle_needs_fields():
    with pytest.raises(ValueError, match="idle"):
        regroup([], index(), idle=5)
    assert regroup(["host"], index(), idle=5).children[0].idle == 5


def test_addresses_are_root_name_and_state_path():
    rt = activate(Runtime())
    s = where("true", regroup(["service"], index()), else_=regroup([], index()))
    assert sorted(rt.bind_regroups([("stream", s)])) == [
        "stream/where/0:regroup", "stream/where/else.0:regroup"]
    assert plan(s)["children"][0]["address"] == "stream/where/0:regroup"


def test_below_by_the_forks_send_and_the_template_receives():
    sent = []
    rt = activate(Runtime(regroup=lambda a, f, e: sent.append((a, e))))
    s = by(["host"], counter(regroup([], with_("host", "all", counter(index())))))
    assert list(rt.bind_regroups([("stream", s)])) == ["stream/by/t0:counter/0:regroup"]
    assert plan(s)["children"][0]["children"][0]["address"] == "stream/by/t0:counter/0:regroup"
    for h in "aba":
        s.send({"host": h, "metric": 1})
    assert [a for a, _ in sent] == ["stream/by/t0:counter/0:regroup"] * 3
    for a, e in sent:
        rt.regroup_in(a, e)
    assert rt.lookup("all", None)["metric"] == 1 + 1 + 2  # per-host counts, summed once


def test_regroup_built_by_a_function_in_by_has_no_address_and_says_why():
    sent = []
    rt = activate(Runtime(regroup=lambda *a: sent.append(a)))
    s = by(["host"], lambda: regroup([], index()))
    rt.bind_regroups([("stream", s)])
    assert plan(s)["children"][0] == {"stream": "python"} or \
        "address" not in plan(s)["children"][0]["children"][0]
    s.send({"host": "a"})
    assert sent == [] and rt.exceptions == 1


def test_an_unknown_address_names_the_module_mismatch():
    rt = Runtime()
    with pytest.raises(KeyError, match="every node must load the same module"):
        rt.regroup_in("other/regroup", {"host": "a"})


def test_rebuild_binds_the_new_root_under_the_same_address(module_dir):
    name = module_dir("m_regroup_rebuild", """
        from dmon import regroup, index
        stream = regroup(["service"], index())
    """)
    rt = Runtime()
    (_, old), = load(name, rt)
    new = rebuild(name, "stream", rt)
    assert rt.regroups == {"stream/regroup": new} and new is not old


class FakeCluster:
    """Runtimes standing for shards (or nodes) that each load the module, with a regroup
    callable sending events to the runtime owning the new key, delivered after the current
    event (as the server delivers them after the current batch)."""

    def __init__(self, module, n):
        self.pending = deque()
        self.runtimes = []
        for _ in range(n):
            rt = Runtime(clock=lambda: 1000.0, regroup=self.route)
            load(module, rt)
            self.runtimes.append(rt)

    def route(self, address, fields, event):
        key = "\0".join(str(event.get(f)) for f in fields).encode()
        self.pending.append((self.runtimes[zlib.crc32(key) % len(self.runtimes)], address, event))

    def send(self, events):
        for i, e in enumerate(events):
            rt = self.runtimes[zlib.crc32(f"{e['host']}\0{e['service']}".encode()) % len(self.runtimes)]
            activate(rt)
            rt.dispatch(dict(e))
            while self.pending:
                target, address, ev = self.pending.popleft()
                activate(target)
                target.regroup_in(address, ev)

    def indexed(self):
        return sorted((tuple(sorted(e.items())) for rt in self.runtimes for e in rt.indexed()))


def test_a_cluster_of_runtimes_computes_what_one_runtime_computes(module_dir):
    name = module_dir("m_regroup_cluster", """
        from dmon import counter, index, regroup, with_
        per_service_stream = regroup(["service"], with_("host", "all", counter(index())))
        total_stream = regroup([], with_({"host": "all", "service": "total", "metric": 1},
                                         counter(index())))
    """)
    one, three = FakeCluster(name, 1), FakeCluster(name, 3)
    one.send(EVENTS)
    three.send(EVENTS)
    assert three.indexed() == one.indexed()
    totals = {e["service"]: e["metric"] for rt in three.runtimes for e in rt.indexed()}
    assert totals["total"] == len(EVENTS)
    assert totals["s0"] == sum(e["metric"] for e in EVENTS if e["service"] == "s0")


def test_without_regroup_the_pieces_differ(module_dir):
    # What regroup fixes: a per-service counter run where the events land is split in pieces.
    name = module_dir("m_no_regroup", """
        from dmon import by, counter, index, with_
        per_service_stream = by(["service"], with_("host", "all", counter(index())))
    """)
    one, three = FakeCluster(name, 1), FakeCluster(name, 3)
    one.send(EVENTS)
    three.send(EVENTS)
    assert three.indexed() != one.indexed()
