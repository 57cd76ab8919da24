"""dmon.state.split_keys / merge / import_keys: the state of one (host, service) key moves to
another instance of the module (a cluster's new owner) and replaces what that one held for the
key; state that is not a function of one key stays behind."""

import dmon.state
from dmon import by, changed_state, coalesce, counter, rate, regroup
from dmon.runtime import Runtime, activate


def changes():
    out = []
    activate(Runtime())
    return out, changed_state(out.append)


def ev(host, service, state):
    return {"host": host, "service": service, "state": state}


def test_changed_state_splits_per_key_and_does_not_refire_after_import():
    out_a, a = changes()
    for h in ("h1", "h2", "h3"):
        a.send(ev(h, "cpu", "ok"))
    assert len(out_a) == 3
    parts = dmon.state.split_keys(dmon.state.snapshot([("alerts", a)]))
    assert sorted(parts) == [("h1", "cpu"), ("h2", "cpu"), ("h3", "cpu")]
    # Through JSON, as slices cross nodes.
    moved = [dmon.state.loads(dmon.state.dumps(parts[("h2", "cpu")]))]

    out_b, b = changes()
    report = dmon.state.import_keys([("alerts", b)], moved)
    assert report["dropped"] == []
    b.send(ev("h2", "cpu", "ok"))  # the same state: no re-fire
    assert out_b == []
    b.send(ev("h1", "cpu", "ok"))  # a key that did not move starts fresh
    assert len(out_b) == 1
    b.send(ev("h2", "cpu", "critical"))  # a real change still fires
    assert [e["state"] for e in out_b] == ["ok", "critical"]


def test_import_replaces_the_local_fork_of_the_key():
    out_a, a = changes()
    a.send(ev("h", "s", "critical"))
    slice_ = dmon.state.split_keys(dmon.state.snapshot([("alerts", a)]))[("h", "s")]
    out_b, b = changes()
    b.send(ev("h", "s", "ok"))  # a stale local copy (e.g. from an old checkpoint)
    dmon.state.import_keys([("alerts", b)], [slice_])
    b.send(ev("h", "s", "critical"))
    assert [e["state"] for e in out_b] == ["ok"]  # compared with the imported "critical"


def test_state_not_keyed_by_host_and_service_stays_with_the_shard():
    activate(Runtime())
    roots = [("r", rate(5)), ("c", counter()), ("h", by(["host"], counter())),
             ("hs", by(["service", "host", "region"], counter()))]
    for _, s in roots:
        s.send({"host": "a", "service": "x", "region": "eu", "metric": 1})
    parts = dmon.state.split_keys(dmon.state.snapshot(roots))
    assert list(parts) == [("a", "x")]
    assert list(parts[("a", "x")]["roots"]) == ["hs"]  # field order does not matter
    # What export saves: only the streams split_keys cuts, and the same slices from them.
    assert dmon.state.keyed_paths(roots) == {("hs", "by")}
    only = dmon.state.snapshot(roots, only=dmon.state.keyed_paths(roots))
    assert list(only["roots"]) == ["hs"]
    assert dmon.state.split_keys(only) == parts


def test_coalesce_entries_move_and_merge():
    activate(Runtime())
    a = coalesce(10)
    a.send(ev("h1", "s", "ok"))
    a.send(ev("h2", "s", "ok"))
    parts = dmon.state.split_keys(dmon.state.snapshot([("c", a)]))
    assert sorted(parts) == [("h1", "s"), ("h2", "s")]
    assert "periodic" not in parts[("h1", "s")]["roots"]["c"]["coalesce"]["state"]
    b = coalesce(10)
    b.send(ev("h3", "s", "ok"))
    dmon.state.import_keys([("c", b)], [parts[("h1", "s")]])
    assert sorted(e["host"] for e in b.table.values()) == ["h1", "h3"]


def test_merge_joins_slices_of_several_keys():
    out_a, a = changes()
    for h in ("h1", "h2"):
        a.send(ev(h, "cpu", "warning"))
    parts = dmon.state.split_keys(dmon.state.snapshot([("alerts", a)]))
    merged = dmon.state.merge(parts.values())
    assert len(merged["roots"]["alerts"]["by"]["state"]["forks"]) == 2
    out_b, b = changes()
    dmon.state.restore([("alerts", b)], merged)
    for h in ("h1", "h2"):
        b.send(ev(h, "cpu", "warning"))
    assert out_b == []


def test_regroup_forks_move_keyed_by_the_regroup_key_in_field_order():
    activate(Runtime())
    roots = [("id", regroup(["host", "service"], counter())),
             ("svc", regroup(["service"], counter())),
             ("sh", regroup(["service", "host"], counter())),
             ("all", regroup([], counter()))]
    for _, s in roots:
        s.send({"host": "a", "service": "x", "metric": 1})
    assert dmon.state.keyed_paths(roots) == {("id", "regroup/0:by"), ("svc", "regroup/0:by"),
                                             ("sh", "regroup/0:by"), ("all", "regroup/0:counter")}
    parts = dmon.state.split_keys(dmon.state.snapshot(roots))
    # (host, service) joins that key's slice; the others are keyed as their events are
    # routed: regroup([])'s children by the empty key.
    assert sorted(parts) == [(), ("a", "x"), ("x",), ("x", "a")]
    assert list(parts[("x",)]["roots"]) == ["svc"]
    assert parts[()]["roots"] == {"all": {"regroup/0:counter": {"params": {}, "whole": True,
                                                                "state": {"count": 1}}}}


def test_below_regroup_everything_follows_the_regroup_key_not_host_and_service():
    activate(Runtime())
    out = []
    # A changed_state below regroup([]) runs on the owner of the empty key, not on each
    # (host, service)'s owner: its forks go with ().
    s = regroup([], changed_state(out.append), counter())
    for h in ("a", "b"):
        s.send({"host": h, "service": "x", "state": "ok", "metric": 1})
    parts = dmon.state.split_keys(dmon.state.snapshot([("g", s)]))
    assert list(parts) == [()]
    assert sorted(parts[()]["roots"]["g"]) == ["regroup/0:by", "regroup/1:counter"]
    # A round sends the whole of it whenever it is asked (a part would replace the whole
    # on a replica); the keeper's digest skips it when it did not change.
    changed = dmon.state.split_keys(dmon.state.snapshot([("g", s)], changed=True))
    assert changed[()] == parts[()]
    moved = [dmon.state.loads(dmon.state.dumps(parts[()]))]
    # Merged twice (two copies of the key's slice in one import), the later one counts once.
    assert dmon.state.merge(moved + moved)["roots"] == \
        dmon.state.merge(moved)["roots"] == moved[0]["roots"]
    out_b = []
    activate(Runtime())
    b = regroup([], changed_state(out_b.append), counter(out_b.append))
    dmon.state.import_keys([("g", b)], moved)
    b.send({"host": "a", "service": "x", "state": "ok", "metric": 1})
    assert [e["metric"] for e in out_b] == [3], "no re-fire, and the count goes on"


def test_a_regroup_fork_imported_elsewhere_continues_its_count():
    out_a = []
    activate(Runtime())
    a = regroup(["service"], counter(out_a.append))
    for svc, m in (("x", 1), ("x", 2), ("y", 5)):
        a.send({"host": "h", "service": svc, "metric": m})
    parts = dmon.state.split_keys(dmon.state.snapshot([("s", a)]))
    moved = [dmon.state.loads(dmon.state.dumps(parts[("x",)]))]
    out_b = []
    activate(Runtime())
    b = regroup(["service"], counter(out_b.append))
    b.send({"host": "h", "service": "x", "metric": 10})  # a stale local fork: replaced
    report = dmon.state.import_keys([("s", b)], moved)
    assert report["dropped"] == []
    b.send({"host": "h2", "service": "x", "metric": 4})
    b.send({"host": "h", "service": "y", "metric": 1})  # did not move: starts fresh
    assert [e["metric"] for e in out_b] == [10, 7, 1]


def template_regroups(out):
    """A Runtime whose regroup() streams deliver in place, as dmond does on the owner of the
    new key (by address, so below by() the template's regroup receives what a fork sent),
    and two roots with a regroup in a by() template."""
    rt = Runtime(regroup=lambda address, fields, e: rt.regroups[address].deliver(e))
    activate(rt)
    roots = [("s", by(["host"], regroup(["service"], changed_state(out.append)))),
             ("t", by(["host"], regroup([], counter(out.append))))]
    rt.bind_regroups(roots)
    return roots


def test_a_regroup_in_a_by_template_keeps_and_moves_its_state_by_the_regroup_key():
    out_a = []
    a = template_regroups(out_a)
    for h in ("h1", "h2"):
        for svc in ("x", "y"):
            for _, root in a:
                root.send({"host": h, "service": svc, "state": "ok", "metric": 1})
    assert len(out_a) == 8  # each new (host, service) fired once, and counted
    assert dmon.state.keyed_paths(a) == {("s", "by/t0:regroup/0:by"),
                                         ("t", "by/t0:regroup/0:counter")}
    # The template's regroup holds what the forks sent: saved in a checkpoint, cut per
    # regroup key (its fields' values; () for regroup([]), whole).
    full = dmon.state.snapshot(a)
    assert "by/t0:regroup/0:by" in full["roots"]["s"]
    parts = dmon.state.split_keys(dmon.state.snapshot(a, only=dmon.state.keyed_paths(a)))
    assert sorted(parts, key=str) == [("x",), ("y",), ()]
    assert parts[()]["roots"]["t"]["by/t0:regroup/0:counter"]["whole"] is True
    moved = [dmon.state.loads(dmon.state.dumps(p)) for p in parts.values()]
    out_b = []
    b = template_regroups(out_b)
    report = dmon.state.import_keys(b, moved)
    assert report["dropped"] == []
    assert sorted(report["restored"]) == ["s by/t0:regroup/0:by", "t by/t0:regroup/0:counter"]
    for _, root in b:
        root.send({"host": "h1", "service": "x", "state": "ok", "metric": 1})
    # changed_state remembers ("h1", "x") and does not fire; the count goes on from 4.
    assert [e["metric"] for e in out_b] == [5]
    # A checkpoint restores the same way after a restart.
    out_c = []
    c = template_regroups(out_c)
    assert dmon.state.restore(c, dmon.state.loads(dmon.state.dumps(full)))["dropped"] == []
    for _, root in c:
        root.send({"host": "h2", "service": "y", "state": "ok", "metric": 1})
    assert [e["metric"] for e in out_c] == [5]


# Replication rounds: snapshot(..., changed=True) takes only the keys changed since the last
# such call (dirty tracking), so a round costs what changed, not every key.

def changed_keys(roots):
    return sorted(dmon.state.split_keys(dmon.state.snapshot(roots, changed=True)))


def test_a_round_takes_exactly_the_keys_changed_since_the_last_round():
    out, a = changes()
    roots = [("alerts", a), ("c", counter())]
    for h in ("h1", "h2", "h3"):
        a.send(ev(h, "cpu", "ok"))
    assert changed_keys(roots) == [("h1", "cpu"), ("h2", "cpu"), ("h3", "cpu")]
    assert changed_keys(roots) == []
    a.send(ev("h2", "cpu", "critical"))
    assert changed_keys(roots) == [("h2", "cpu")]
    # A whole snapshot (checkpoint, handoff) still has every key and forgets no mark.
    a.send(ev("h3", "cpu", "ok"))
    assert sorted(dmon.state.split_keys(dmon.state.snapshot(roots))) == \
        [("h1", "cpu"), ("h2", "cpu"), ("h3", "cpu")]
    assert changed_keys(roots) == [("h3", "cpu")]


def test_a_key_changed_by_a_timer_is_in_the_next_round():
    now = [0.0]
    rt = Runtime(clock=lambda: now[0])
    activate(rt)
    out = []
    s = by(["host", "service"], rate(5, out.append))
    roots = [("r", s)]
    s.send({"host": "a", "service": "x", "metric": 1, "time": 0})
    assert changed_keys(roots) == [("a", "x")]
    now[0] = 3
    s.send({"host": "b", "service": "x", "metric": 1, "time": 3})
    assert changed_keys(roots) == [("b", "x")]
    now[0] = 5
    rt.tick(5)  # a's rate flushes (and resets its sum); b's is due at 8
    assert [e["host"] for e in out] == ["a"]
    assert changed_keys(roots) == [("a", "x")]
    now[0] = 8
    rt.tick(8)
    assert changed_keys(roots) == [("b", "x")]


def test_imported_keys_and_coalesce_entries_are_in_the_next_round():
    out, a = changes()
    a.send(ev("h", "s", "critical"))
    slice_ = dmon.state.split_keys(dmon.state.snapshot([("alerts", a)]))[("h", "s")]
    _, b = changes()
    b.send(ev("other", "s", "ok"))
    assert changed_keys([("alerts", b)]) == [("other", "s")]
    dmon.state.import_keys([("alerts", b)], [slice_])
    assert changed_keys([("alerts", b)]) == [("h", "s")]

    activate(Runtime())
    c = coalesce(10, counter())
    for h in ("a", "b"):
        c.send({"host": h, "service": "x"})
    assert changed_keys([("c", c)]) == [("a", "x"), ("b", "x")]
    c.send({"host": "b", "service": "x", "metric": 2})
    assert changed_keys([("c", c)]) == [("b", "x")]
