"""Loader: fresh private module instances, root stream discovery, errors, rebuild."""

import sys
import textwrap

import pytest

from dmon.loader import load, rebuild
from dmon.runtime import Runtime, current


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name, source):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        return name
    return write


def test_roots_in_definition_order_with_generators_primed(module_dir):
    name = module_dir("m_order", """
        from dmon import index, where
        seen = []
        def gen():
            while True:
                seen.append((yield))
        z_stream = where('service = "a"', index())
        a_stream = gen()
        helper = index()              # no "stream" in the name: not a root
        class my_stream_class:        # classes are not roots
            def send(self, e): pass
        streams_count = 3             # no send(): not a root
    """)
    rt = Runtime(clock=lambda: 1.0)
    roots = load(name, rt)
    assert [n for n, _ in roots] == ["z_stream", "a_stream"]
    assert rt.roots == roots
    rt.dispatch({"service": "a", "host": "h"})
    assert rt.lookup("h", "a") is not None
    assert roots[1][1].gi_frame.f_globals["seen"] == [{"service": "a", "host": "h"}]


def test_each_load_is_a_fresh_instance_outside_sys_modules(module_dir):
    name = module_dir("m_fresh", """
        from dmon import counter
        out = []
        stream = counter(out.append)
    """)
    a, b = Runtime(), Runtime()
    (_, s1), = load(name, a)
    (_, s2), = load(name, b)
    assert s1 is not s2 and name not in sys.modules
    s1.send({"metric": 1})
    s1.send({"metric": 1})
    s2.send({"metric": 5})
    assert s1.count == 2 and s2.count == 5


def test_load_activates_the_runtime_so_streams_bind_to_it(module_dir):
    name = module_dir("m_rt", "from dmon import index\nstream = index()\n")
    rt = Runtime(clock=lambda: 3.0)
    (_, s), = load(name, rt)
    assert current() is rt and s.rt is rt


def test_import_error_propagates_unchanged(module_dir):
    name = module_dir("m_broken", "import no_such_module_here\nstream = None\n")
    with pytest.raises(ModuleNotFoundError):
        load(name, Runtime())
    name = module_dir("m_syntax", "stream = (\n")
    with pytest.raises(SyntaxError):
        load(name, Runtime())


def test_missing_module_is_a_clear_error():
    with pytest.raises(ModuleNotFoundError) as exc:
        load("dmon_no_such_stream_module", Runtime())
    assert "dmon_no_such_stream_module" in str(exc.value)


def test_module_without_streams_is_a_value_error(module_dir):
    name = module_dir("m_empty", "x = 1\n")
    with pytest.raises(ValueError) as exc:
        load(name, Runtime())
    msg = str(exc.value)
    assert msg.startswith("module m_empty defines no stream") and "'stream'" in msg


def test_rebuild_returns_fresh_state_and_replaces_the_root(module_dir):
    name = module_dir("m_rebuild", """
        from dmon import counter, rate
        out = []
        stream = counter(out.append)
        rate_stream = rate(1, out.append)
    """)
    clock = [0.0]
    rt = Runtime(clock=lambda: clock[0])
    roots = dict(load(name, rt))
    roots["stream"].send({"metric": 3})
    roots["rate_stream"].send({"metric": 3})
    assert len(rt.pending_timers()) == 1
    new_rate = rebuild(name, "rate_stream", rt)
    assert new_rate is not roots["rate_stream"]
    assert dict(rt.roots)["rate_stream"] is new_rate
    assert rt.pending_timers() == []  # the old root's timer was cancelled
    new = rebuild(name, "stream", rt)
    assert new.count == 0 and dict(rt.roots)["stream"] is new
    with pytest.raises(ValueError):
        rebuild(name, "gone_stream", rt)


def test_the_seed_example_works_verbatim_and_survives_events_without_state(module_dir):
    name = module_dir("m_seed", """
        from dmon import when, email
        stream = when(lambda event: event['state'] == "warning", email("me@mycompany.com"))
    """)
    errors = []
    rt = Runtime(on_exception=lambda where, e, exc: errors.append((where, type(exc))))
    rt.captured = []
    (_, s), = load(name, rt)
    s.send({"host": "a"})                       # no state: KeyError, caught by when
    s.send({"host": "a", "state": "warning"})
    s.send({"host": "a", "state": "ok"})
    assert errors == [("where", KeyError)]
    assert rt.captured == [("email", {"host": "a", "state": "warning"})]


def test_rebuild_closes_an_old_generator_root_and_runs_its_finally(module_dir):
    name = module_dir("m_gen_close", """
        closed = []
        def gen():
            try:
                while True:
                    (yield)
            finally:
                closed.append("gen")
        stream = gen()
    """)
    rt = Runtime()
    (_, old), = load(name, rt)
    old.send({"host": "a"})
    new = rebuild(name, "stream", rt)
    assert new is not old and dict(rt.roots)["stream"] is new
    assert old.gi_frame is None                                 # closed, not left suspended
    with pytest.raises(StopIteration):
        old.send({"host": "a"})


def test_rebuild_reports_errors_from_close_and_still_swaps(module_dir):
    name = module_dir("m_bad_close", """
        def stubborn():
            stubborn = False
            while True:
                try:
                    stubborn = (yield).get("stubborn", stubborn)
                except GeneratorExit:
                    if not stubborn:
                        raise
                    # yields again: close() raises RuntimeError
        class Closer:
            def send(self, e): pass
            def close(self): raise OSError("socket already gone")
        stream = stubborn()
        other_stream = Closer()
    """)
    errors = []
    rt = Runtime(on_exception=lambda where, e, exc: errors.append((where, type(exc))))
    (_, old), _ = load(name, rt)
    old.send({"stubborn": True})
    new = rebuild(name, "stream", rt)
    new_other = rebuild(name, "other_stream", rt)
    assert dict(rt.roots) == {"stream": new, "other_stream": new_other}
    assert errors == [("closing root stream stream", RuntimeError),
                      ("closing root stream other_stream", OSError)]
    old.send({"stubborn": False})  # still suspended after the failed close; let it go quietly
