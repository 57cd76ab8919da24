// Keeper actor: applies what other nodes send, sends replicas and handoffs, answers query shares.
#include "keeper_actor.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <algorithm>
#include <optional>
#include <unordered_set>

#include "event_batch_codec.hpp"
#include "handoff.hpp"
#include "ingest_split.hpp"
#include "ingest_targets.hpp"
#include "ownership.hpp"
#include "state_slices.hpp"

namespace dmon {

namespace {

using self_ptr = keeper_actor::stateful_pointer<keeper_state>;
using clock_type = std::chrono::steady_clock;

thread_local bool relaying = false;

int64_t time_of(const event& e) {
  return e.time_us ? *e.time_us : INT64_MIN;
}

void bump(std::atomic<uint64_t>& c, uint64_t n) {
  c.fetch_add(n, std::memory_order_relaxed);
}

std::vector<event> everything(const index& idx) {
  return idx.select([](const event&) { return true; });
}

// Records the deletes among `entries` as tombstones (tombstones.hpp), drops the replicas
// held that they bury, and removes from `entries` the live copies the tombstones bury (a
// returning node's or the other partition side's stale copy of a key deleted meanwhile).
// The deletes stay in `entries`: they still apply where they are newer. `check_replicas`
// scans the replicas held (a handoff of tombstones, at membership changes only); replica
// writes delete their replicas themselves.
void settle_tombstones(self_ptr self, std::vector<event>& entries, bool check_replicas) {
  auto& st = self->state;
  auto now = now_micros();
  std::unordered_map<std::string, int64_t> deleted;
  for (auto& e : entries)
    if (tombstones::is_delete(e)) {
      auto& t = deleted.try_emplace(index_key::encode(e), INT64_MIN).first->second;
      t = std::max(t, *e.time_us);
    }
  if (!deleted.empty()) {
    if (auto r = st.graves->record(entries, now); !r)
      spdlog::error("keeper: cannot record {} tombstones: {}", deleted.size(), r.error().message);
    std::vector<event> buried_replicas;
    if (check_replicas)
      for (auto& r : st.replicas->all())
        if (auto d = deleted.find(index_key::encode(r));
            d != deleted.end() && buries(d->second, time_of(r)))
          buried_replicas.push_back(std::move(r));
    if (!buried_replicas.empty()) {
      if (auto r = st.replicas->erase(buried_replicas); !r)
        spdlog::error("keeper: cannot drop {} deleted replicas: {}", buried_replicas.size(),
                      r.error().message);
      st.link->counters.replicas_held.store(st.replicas->size(), std::memory_order_relaxed);
    }
  }
  if (auto n = st.graves->bury(entries); n > 0)
    spdlog::info("keeper: {} stale entries of keys deleted since were dropped (tombstones)", n);
}

// Applies entries to this node's index where they are at least as new as what it holds
// (a handoff or a late replica may carry an older copy than a write made here since),
// and are not buried by a tombstone.
result<size_t> apply_newer(self_ptr self, std::vector<event> entries) {
  auto& st = self->state;
  settle_tombstones(self, entries, false);
  std::vector<event> kept;
  for (auto& e : entries) {
    auto held = st.db->lookup(index_key::of(e));
    if (held && time_of(*held) > time_of(e))
      continue;
    kept.push_back(std::move(e));
  }
  if (kept.empty())
    return size_t{0};
  if (auto r = st.db->apply(kept); !r)
    return r.error();
  return kept.size();
}

void send_outbox(self_ptr self, write_outbox::contents c, uint64_t seq);

// Answers flushes whose sends (every send numbered up to theirs) have finished.
void answer_waiters(self_ptr self) {
  auto& st = self->state;
  auto lowest = st.open.empty() ? UINT64_MAX : st.open.begin()->first;
  auto& w = st.waiters;
  for (auto it = w.begin(); it != w.end();) {
    if (it->first < lowest) {
      it->second();
      it = w.erase(it);
    } else {
      ++it;
    }
  }
}

// Sends what the outbox holds for flushes that waited for the open sends, as one batch.
void send_deferred(self_ptr self) {
  auto& st = self->state;
  if (st.deferred_flushes.empty() || !st.open.empty())
    return;
  auto seq = st.next_seq++;
  send_outbox(self, st.link->outbox.take(), seq);
  for (auto& answer : st.deferred_flushes)
    st.waiters.emplace_back(seq, std::move(answer));
  st.deferred_flushes.clear();
  answer_waiters(self);
}

// One send of outbox take `seq` finished: the take is settled once all of its sends did.
void finished(self_ptr self, uint64_t seq) {
  auto& st = self->state;
  if (auto i = st.open.find(seq); i != st.open.end() && --i->second == 0) {
    st.open.erase(i);
    st.link->outbox.settled();
  }
  answer_waiters(self);
  send_deferred(self);
}

// A flush: `answer` runs once every write queued before it was sent on (at once when
// nothing is open). While earlier sends are open it waits for them, and what was queued
// meanwhile goes as one batch (send_deferred).
void flush_outbox(self_ptr self, std::function<void()> answer) {
  auto& st = self->state;
  if (!st.open.empty()) {
    st.deferred_flushes.push_back(std::move(answer));
    return;
  }
  auto seq = st.next_seq++;
  send_outbox(self, st.link->outbox.take(), seq);
  if (st.open.empty() || st.open.begin()->first > seq) {
    answer();
    return;
  }
  st.waiters.emplace_back(seq, std::move(answer));
}

// The same, answering a request.
caf::result<uint64_t> flush_outbox(self_ptr self) {
  auto rp = self->make_response_promise<uint64_t>();
  flush_outbox(self, [rp]() mutable { rp.deliver(uint64_t{0}); });
  return rp;
}

// Sends `events` to member `node`; `done(ok)` runs once it answered or failed. A send with
// a sequence number holds back flushes that came after it.
template <class Atom>
void send_to(self_ptr self, const cluster_link::snapshot& snap, const std::string& node, Atom atom,
             std::vector<event> events, uint64_t seq, std::atomic<uint64_t>* ok,
             std::atomic<uint64_t>* failed, std::function<void(bool)> done = {},
             std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
  auto& st = self->state;
  auto n = events.size();
  auto it = snap.keepers.find(node);
  if (it == snap.keepers.end() || !it->second) {
    bump(*failed, n);
    if (done)
      done(false);
    return;
  }
  auto dest = caf::actor_cast<keeper_actor>(it->second);
  if (seq)
    ++st.open[seq];
  self->request(dest, timeout.value_or(st.opts.send_timeout), atom,
                event_batch_codec::encode(events))
      .then(
          [=](uint64_t) {
            bump(*ok, n);
            if (done)
              done(true);
            if (seq)
              finished(self, seq);
          },
          [=](caf::error& err) {
            bump(*failed, n);
            spdlog::warn("keeper: sending {} entries ({}) to {} failed: {}", n,
                         caf::to_string(Atom::value), node, self->system().render(err));
            if (done)
              done(false);
            if (seq)
              finished(self, seq);
          });
}

// Applies index writes this node owns that did not come through its own streams.
result<size_t> apply_owned(self_ptr self, std::vector<event>& events) {
  auto& st = self->state;
  if (auto r = st.graves->record(events, now_micros()); !r)
    spdlog::error("keeper: cannot record tombstones: {}", r.error().message);
  if (auto r = st.db->apply(events); !r)
    return r.error();
  for (auto& e : events) {
    st.hub->publish("index", e);
    st.link->outbox.push_replicate(e);
  }
  return events.size();
}

// Sends what the outbox held: foreign writes to their owners, copies to replicas.
void send_outbox(self_ptr self, write_outbox::contents c, uint64_t seq) {
  auto& st = self->state;
  if (c.empty())
    return;
  auto snap = st.link->get();
  auto& view = snap->view;
  auto& counters = st.link->counters;
  std::map<std::string, std::vector<event>> to_owner, to_replica;
  std::vector<event> mine;
  for (auto& e : c.foreign) {
    auto h = ownership::key_hash(e);
    if (view.owns(h))
      mine.push_back(std::move(e));
    else
      to_owner[view.owner(h)].push_back(std::move(e));
  }
  if (!mine.empty()) {
    if (auto r = st.db->apply(mine); !r) {
      bump(counters.forward_failures, mine.size());
      spdlog::error("keeper: cannot write {} index entries: {}", mine.size(), r.error().message);
    } else {
      for (auto& e : mine) {
        st.hub->publish("index", e);
        c.replicate.push_back(std::move(e));
      }
    }
  }
  // This node's own deletes (the reaper's, streams' "expired" writes) leave tombstones.
  if (auto r = st.graves->record(c.replicate, now_micros()); !r)
    spdlog::error("keeper: cannot record tombstones: {}", r.error().message);
  for (auto& e : c.replicate)
    for (auto& r : view.replicas(ownership::key_hash(e)))
      if (r != view.self())
        to_replica[r].push_back(e);
  for (auto& [node, events] : to_owner)
    send_to(self, *snap, node, index_write_atom::value, std::move(events), seq,
            &counters.index_forwarded_out, &counters.forward_failures);
  for (auto& [node, events] : to_replica)
    send_to(self, *snap, node, replica_atom::value, std::move(events), seq,
            &counters.replicated_out, &counters.replication_failures);
  // Nothing went out (all applied here, or every send failed at once): settled now.
  if (!st.open.count(seq))
    st.link->outbox.settled();
}

// After the new owner acknowledged `sent`: removes those entries from the index (unless a
// newer write came meanwhile) and keeps the ones in `keep` as replicas.
void release(self_ptr self, const std::vector<event>& sent,
             const std::shared_ptr<const std::unordered_set<std::string>>& keep) {
  auto& st = self->state;
  std::vector<event> tombstones, kept;
  for (auto& e : sent) {
    auto key = index_key::of(e);
    auto held = st.db->lookup(key);
    if (!held || time_of(*held) != time_of(e))
      continue;
    event t;
    t.host = e.host;
    t.service = e.service;
    t.state = "expired";
    tombstones.push_back(std::move(t));
    if (keep && keep->count(key.encode()))
      kept.push_back(e);
  }
  if (auto r = st.db->apply(tombstones); !r)
    spdlog::error("keeper: cannot drop {} handed-off entries: {}", tombstones.size(),
                  r.error().message);
  if (auto r = st.replicas->apply(kept); !r)
    spdlog::error("keeper: cannot keep {} replicas: {}", kept.size(), r.error().message);
  st.link->counters.replicas_held.store(st.replicas->size(), std::memory_order_relaxed);
}

// Asks every shard for the per-key part of its stream state (with `changed_only`, only of the
// keys its streams changed since the last such request); `done` gets every slice once each
// shard answered (a shard that failed is logged and contributes nothing).
void collect_states(self_ptr self, std::function<void(std::vector<key_state>)> done,
                    bool changed_only = false) {
  auto& st = self->state;
  if (st.shards.empty()) {
    done({});
    return;
  }
  struct gathering {
    size_t left;
    std::vector<key_state> all;
    std::function<void(std::vector<key_state>)> done;
  };
  auto g = std::make_shared<gathering>(gathering{st.shards.size(), {}, std::move(done)});
  auto one_done = [g] {
    if (--g->left == 0)
      g->done(std::move(g->all));
  };
  for (size_t i = 0; i < st.shards.size(); ++i)
    self->request(st.shards[i], st.opts.send_timeout, state_export_atom::value, changed_only)
        .then(
            [g, one_done](std::vector<key_state>& part) {
              std::move(part.begin(), part.end(), std::back_inserter(g->all));
              one_done();
            },
            [self, i, one_done, changed_only](caf::error& err) {
              spdlog::error("keeper: shard {} did not export its stream state: {}", i,
                            self->system().render(err));
              if (changed_only)  // it may have forgotten its changed keys: export all next
                self->state.state_full_next = true;
              one_done();
            });
}

// Loads slices into the shards that own their keys (key hash mod shards, as the router
// routes their events); `done(loaded, failure)` once every shard answered.
void import_states(self_ptr self, std::vector<key_state> slices,
                   std::function<void(uint64_t, std::string)> done) {
  auto& st = self->state;
  if (st.shards.empty() || slices.empty()) {
    done(0, {});
    return;
  }
  std::map<size_t, std::vector<key_state>> by_shard;
  for (auto& s : slices)
    by_shard[state_slices::key_hash(s) % st.shards.size()].push_back(std::move(s));
  struct loading {
    size_t left;
    uint64_t loaded = 0;
    std::string failure;
    std::function<void(uint64_t, std::string)> done;
  };
  auto l = std::make_shared<loading>(loading{by_shard.size(), 0, {}, std::move(done)});
  for (auto& [shard, part] : by_shard)
    self->request(st.shards[shard], st.opts.send_timeout, state_import_atom::value, std::move(part))
        .then(
            [l](uint64_t n) {
              l->loaded += n;
              if (--l->left == 0)
                l->done(l->loaded, std::move(l->failure));
            },
            [self, l, shard = shard](caf::error& err) {
              l->failure = "shard " + std::to_string(shard) + ": " + self->system().render(err);
              if (--l->left == 0)
                l->done(l->loaded, std::move(l->failure));
            });
}

// Sends stream-state slices to member `node`; `done(ok)` once it answered or failed.
template <class Atom>
void send_states(self_ptr self, const cluster_link::snapshot& snap, const std::string& node,
                 Atom atom, std::vector<key_state> slices, std::atomic<uint64_t>* ok,
                 std::atomic<uint64_t>* failed, std::function<void(bool)> done) {
  auto& st = self->state;
  auto n = slices.size();
  auto it = snap.keepers.find(node);
  if (it == snap.keepers.end() || !it->second) {
    bump(*failed, n);
    done(false);
    return;
  }
  self->request(caf::actor_cast<keeper_actor>(it->second), st.opts.send_timeout, atom,
                state_slices::encode(slices))
      .then(
          [=](uint64_t) {
            bump(*ok, n);
            done(true);
          },
          [=](caf::error& err) {
            bump(*failed, n);
            spdlog::warn("keeper: sending the stream state of {} key(s) ({}) to {} failed: {}", n,
                         caf::to_string(Atom::value), node, self->system().render(err));
            done(false);
          });
}

// Drops slices whose state is still what the streams held at the first view with peers:
// after a restart that is the checkpoint's, older than what the other members hold.
std::vector<key_state> changed_since_start(self_ptr self, std::vector<key_state> all) {
  auto& start = self->state.state_at_start;
  if (start.empty())
    return all;
  size_t before = all.size();
  std::erase_if(all, [&](const key_state& s) {
    auto it = start.find(state_slices::key_hash(s));
    return it != start.end() && it->second == state_slices::digest(s);
  });
  if (all.size() < before)
    spdlog::info(
        "keeper: not handing off the stream state of {} key(s) unchanged since this node "
        "started (its checkpoint's, not newer than the other members')",
        before - all.size());
  return all;
}

// Stream state on a view change: replica slices of keys this node owns now are imported into
// its streams (their owner crashed or is leaving), and with a membership change, the state of
// keys it owned and no longer owns goes to their new owner.
void rebalance_states(self_ptr self, const std::shared_ptr<const cluster_link::snapshot>& snap,
                      const cluster_view& prev, bool had_view, bool moved) {
  auto& st = self->state;
  auto& counters = st.link->counters;
  if (!had_view) {
    // The first view with peers (a start, or a return after a crash): replica slices from
    // before the restart are older than what the owners send again now.
    std::vector<key_state> old;
    for (auto& s : st.replicas->states())
      if (st.states_from_disk.count(state_slices::key_hash(s)))
        old.push_back(s);
    st.states_from_disk.clear();
    if (auto r = st.replicas->erase_states(old); !r)
      spdlog::error("keeper: cannot drop replica stream state: {}", r.error().message);
  }
  auto held = plan_state_promotion(snap->view, st.replicas->states());
  if (!held.promote.empty()) {
    auto n = held.promote.size();
    bump(counters.state_promoted, n);
    spdlog::info("keeper: importing the replicated stream state of {} key(s) this node now owns",
                 n);
    import_states(self, held.promote, [n](uint64_t, std::string failure) {
      if (!failure.empty())
        spdlog::error("keeper: importing the replicated stream state of {} key(s) failed: {}", n,
                      failure);
    });
  }
  held.drop.insert(held.drop.end(), held.promote.begin(), held.promote.end());
  if (auto r = st.replicas->erase_states(held.drop); !r)
    spdlog::error("keeper: cannot drop replica stream state: {}", r.error().message);
  counters.state_replicas_held.store(st.replicas->states_size(), std::memory_order_relaxed);
  if (!moved)
    return;
  st.state_sent.clear();  // replica sets changed: the next replication sends every key
  st.state_full_next = true;
  collect_states(self, [self, snap, prev](std::vector<key_state> all) {
    auto moves = plan_state_handoff(prev, snap->view, changed_since_start(self, std::move(all)));
    auto& counters = self->state.link->counters;
    for (auto& [node, slices] : moves) {
      spdlog::info("keeper: handing the stream state of {} key(s) to {}", slices.size(), node);
      send_states(self, *snap, node, state_handoff_atom::value, std::move(slices),
                  &counters.state_handed_off_out, &counters.state_handoff_failures, [](bool) {});
    }
  });
}

// Every `state_replicate_every`: the per-key state of keys this node owns whose slice changed
// since it last went out, to each key's replicas. The shards export only the keys their
// streams changed since the previous round (dirty tracking), every key after a view change
// or a failed send; the digest then drops keys touched without a change.
void replicate_states(self_ptr self) {
  auto& st = self->state;
  st.state_replicating = true;
  auto started = clock_type::now();
  bool changed_only = !st.state_full_next;
  st.state_full_next = false;
  auto exported = [self, started](std::vector<key_state> all) {
    auto& st = self->state;
    // Exporting holds each shard (and the GIL) for a time that grows with its keys: the
    // next round waits at least ten times as long as this export took, so it never takes
    // more than about a tenth of the shards' time.
    auto took = clock_type::now() - started;
    st.next_state_replication =
        std::max(st.next_state_replication,
                 started + std::chrono::duration_cast<clock_type::duration>(took * 10));
    auto snap = st.link->get();
    std::vector<key_state> changed;
    for (auto& s : all) {
      auto h = state_slices::key_hash(s);
      if (!snap->view.owns(h))
        continue;
      auto d = state_slices::digest(s);
      auto [it, fresh] = st.state_sent.try_emplace(h, d);
      if (!fresh && it->second == d)
        continue;
      it->second = d;
      changed.push_back(std::move(s));
    }
    auto moves = plan_state_replicas(snap->view, changed);
    if (moves.empty()) {
      st.state_replicating = false;
      bump(st.link->counters.state_replication_rounds, 1);
      return;
    }
    auto left = std::make_shared<size_t>(moves.size());
    auto& counters = st.link->counters;
    for (auto& [node, slices] : moves) {
      auto keys = std::make_shared<std::vector<uint64_t>>();
      for (auto& s : slices)
        keys->push_back(state_slices::key_hash(s));
      send_states(self, *snap, node, state_replica_atom::value, std::move(slices),
                  &counters.state_replicated_out, &counters.state_replication_failures,
                  [self, left, keys](bool ok) {
                    if (!ok) {  // sent again next time, from a full export
                      for (auto h : *keys)
                        self->state.state_sent.erase(h);
                      self->state.state_full_next = true;
                    }
                    if (--*left == 0) {
                      self->state.state_replicating = false;
                      bump(self->state.link->counters.state_replication_rounds, 1);
                    }
                  });
    }
  };
  collect_states(self, std::move(exported), changed_only);
}

}  // namespace

struct placement {
  clock_type::time_point deadline;
  /// Entries of the leave itself: drop each from the index once a staying member has it.
  bool release_after = false;
  /// Sends in flight in this round, and entries whose send failed (retried next round).
  size_t open = 0;
  std::vector<event> retry;
  uint64_t placed = 0;
  /// Runs once: with the count placed and what could not be placed.
  std::function<void(uint64_t, std::vector<event>)> done;
};

namespace {

bool leaving_now(self_ptr self) {
  auto snap = self->state.link->get();
  return self->state.leaving || snap->view.is_leaving(snap->view.self());
}

// Answers the leave once its own entries are placed (or given up) and nothing received
// while leaving is still being passed on.
void maybe_finish_leave(self_ptr self) {
  auto& st = self->state;
  if (!st.leave_reply || st.leave_placing || st.passing_on > 0 || st.state_open > 0)
    return;
  st.leave_reply->deliver(st.leave_placed);
  st.leave_reply.reset();
}

void place_round(self_ptr self, std::shared_ptr<placement> p, std::vector<event> entries);

void end_round(self_ptr self, const std::shared_ptr<placement>& p) {
  if (p->open > 0)
    return;
  auto now = clock_type::now();
  if (p->retry.empty() || now >= p->deadline) {
    auto done = std::move(p->done);
    done(p->placed, std::move(p->retry));
    return;
  }
  self->state.retries.emplace_back(now + self->state.opts.leave_retry, p);
}

// One round: sends every entry to its owner among the staying members of the current
// view; failed sends wait for the next round, with the view as it is then (a target
// that left meanwhile is no longer in it).
void place_round(self_ptr self, std::shared_ptr<placement> p, std::vector<event> entries) {
  auto& st = self->state;
  auto snap = st.link->get();
  auto plan = plan_leave(snap->view, std::move(entries));
  if (!plan.nowhere.empty()) {
    // Every member known is leaving: nobody to wait for.
    auto done = std::move(p->done);
    for (auto& e : p->retry)
      plan.nowhere.push_back(std::move(e));
    done(p->placed, std::move(plan.nowhere));
    return;
  }
  auto& counters = st.link->counters;
  // No send outlives the deadline by more than a second: the node waits for the leave.
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(p->deadline - clock_type::now());
  auto timeout = std::clamp(left, std::chrono::milliseconds{1'000}, st.opts.send_timeout);
  p->open += plan.to_owner.size();
  for (auto& [node, events] : plan.to_owner) {
    auto sent = std::make_shared<std::vector<event>>(events);
    send_to(
        self, *snap, node, handoff_atom::value, std::move(events), 0, &counters.handed_off_out,
        &counters.handoff_failures,
        [self, p, sent](bool ok) {
          if (ok) {
            p->placed += sent->size();
            if (p->release_after)
              release(self, *sent, nullptr);
          } else {
            p->retry.insert(p->retry.end(), sent->begin(), sent->end());
          }
          --p->open;
          end_round(self, p);
        },
        timeout);
  }
  // With sends, the last one to finish ends the round (perhaps synchronously, above).
  if (plan.to_owner.empty())
    end_round(self, p);
}

// Entries received while this node is leaving (a sender that did not know yet, or a
// concurrent leaver): passed on to a staying owner, and acknowledged only once that
// owner took them, so the sender never drops what nobody holds.
caf::result<uint64_t> pass_on(self_ptr self, std::vector<event> events) {
  auto& st = self->state;
  auto n = events.size();
  spdlog::info("keeper: leaving; passing {} entries received now on to staying members", n);
  auto rp = self->make_response_promise<uint64_t>();
  auto p = std::make_shared<placement>();
  // Within the sender's own timeout for this request.
  p->deadline = clock_type::now() + st.opts.send_timeout / 2;
  ++st.passing_on;
  p->done = [self, rp, n](uint64_t, std::vector<event> unplaced) mutable {
    --self->state.passing_on;
    if (unplaced.empty())
      rp.deliver(uint64_t{n});
    else
      rp.deliver(caf::make_error(
          caf::sec::runtime_error,
          "node " + self->state.link->get()->view.self() + " is leaving and could not pass on " +
              std::to_string(unplaced.size()) + " entries; send them to a staying member"));
    maybe_finish_leave(self);
  };
  place_round(self, p, std::move(events));
  return rp;
}

// Sends the tombstones this node holds to members new since `prev` that own or replicate
// their keys, so a returning node or a healed partition's other side drops its stale
// copies of keys deleted meanwhile (and refuses them if they come back).
void send_tombstones(self_ptr self, const cluster_link::snapshot& snap, const cluster_view& prev) {
  auto& st = self->state;
  if (st.graves->size() == 0)
    return;
  auto plan = plan_tombstones(prev, snap.view, st.graves->all());
  for (auto& [node, deletes] : plan) {
    spdlog::info("keeper: sending {} tombstones to {}", deletes.size(), node);
    send_to(self, snap, node, handoff_atom::value, std::move(deletes), 0,
            &st.link->counters.handed_off_out, &st.link->counters.handoff_failures);
  }
}

// Moves entries for the change from the last view to the current one (or repairs when
// the view did not change): promotes, drops, re-replicates and hands off.
void rebalance(self_ptr self) {
  auto& st = self->state;
  auto snap = st.link->get();
  auto& next = snap->view;
  if (next.self().empty() || (!st.prev && !next.clustered()))
    return;
  // A leaving node moves its entries in the leave itself (with retries until they have
  // a new home); it keeps what it holds until then.
  if (leaving_now(self))
    return;
  cluster_view prev =
      st.prev ? *st.prev : cluster_view{ring{{next.self()}}, next.self(), next.replication()};
  bool had_view = st.prev.has_value();
  bool moved = had_view && (prev.members().members() != next.members().members() ||
                            prev.leaving() != next.leaving());
  rebalance_states(self, snap, prev, had_view, moved);
  auto plan = plan_handoff(prev, next, everything(st.db->memory()), st.replicas->all());
  auto& counters = st.link->counters;
  send_tombstones(self, *snap, prev);
  st.prev = next;
  st.next_rebalance = clock_type::now() + st.opts.rebalance_every;
  bump(counters.rebalances, 1);
  if (plan.empty())
    return;
  size_t moving = 0, copies = 0;
  for (auto& [n, evs] : plan.to_owner)
    moving += evs.size();
  for (auto& [n, evs] : plan.to_replica)
    copies += evs.size();
  spdlog::info(
      "keeper: {} member(s): handing {} entries to their owners, {} copies to new replicas, "
      "promoting {} replicas, dropping {}",
      next.members().size(), moving, copies, plan.promote.size(), plan.drop_replica.size());
  if (!plan.promote.empty()) {
    auto promoted = apply_newer(self, plan.promote);
    if (!promoted) {
      spdlog::error("keeper: cannot promote {} replicas: {}", plan.promote.size(),
                    promoted.error().message);
    } else {
      bump(counters.promoted, plan.promote.size());
      if (auto r = st.replicas->erase(plan.promote); !r)
        spdlog::error("keeper: cannot drop promoted replicas: {}", r.error().message);
    }
  }
  if (!plan.drop_replica.empty())
    if (auto r = st.replicas->erase(plan.drop_replica); !r)
      spdlog::error("keeper: cannot drop replicas: {}", r.error().message);
  counters.replicas_held.store(st.replicas->size(), std::memory_order_relaxed);
  for (auto& [node, events] : plan.to_replica)
    send_to(self, *snap, node, replica_atom::value, std::move(events), 0, &counters.replicated_out,
            &counters.replication_failures);
  auto keep = std::make_shared<std::unordered_set<std::string>>();
  for (auto& e : plan.keep_as_replica)
    keep->insert(index_key::of(e).encode());
  for (auto& [node, events] : plan.to_owner) {
    auto sent = std::make_shared<std::vector<event>>(events);
    send_to(self, *snap, node, handoff_atom::value, std::move(events), 0, &counters.handed_off_out,
            &counters.handoff_failures, [=](bool ok) {
              if (ok)
                self->state.releases.push_back(
                    {clock_type::now() + self->state.opts.release_grace, sent, keep});
            });
  }
}

// Relays this node's index writes to watching members; renews its own watches.
void relay_tick(self_ptr self) {
  auto& st = self->state;
  auto now = clock_type::now();
  auto snap = st.link->get();
  for (auto it = st.watchers.begin(); it != st.watchers.end();)
    it = it->second < now ? st.watchers.erase(it) : std::next(it);
  if (st.watchers.empty() && st.relay_sub != 0) {
    st.hub->unsubscribe(st.relay_sub);
    st.relay_sub = 0;
  }
  std::vector<event> out;
  {
    std::lock_guard lock{st.relay->mtx};
    out.swap(st.relay->events);
  }
  if (!out.empty()) {
    auto bytes = event_batch_codec::encode(out);
    for (auto& [node, until] : st.watchers)
      if (auto h = snap->keepers.find(node); h != snap->keepers.end() && h->second)
        self->send(caf::actor_cast<keeper_actor>(h->second), relay_atom::value, bytes);
  }
  // This node's subscribers want the other members' writes too.
  if (snap->view.clustered() && st.hub->subscribers("index") > 0 && now >= st.next_watch) {
    st.next_watch = now + st.opts.watch_lease / 2;
    for (auto& [node, handle] : snap->keepers)
      if (node != snap->view.self() && handle)
        self->send(caf::actor_cast<keeper_actor>(handle), watch_atom::value, snap->view.self());
  }
}

// Runs a forwarded batch on the local shards (never routed again: while two nodes' views
// briefly differ that could loop) and answers `to` once they ran it and, when anything is
// queued for replicas or other owners, the keeper sent it: from whichever thread finishes,
// without a hop back through an actor here.
void run_forwarded(self_ptr self, std::vector<event> events, router_actor to, uint64_t id) {
  auto& st = self->state;
  auto answer = std::make_shared<ingest_waiter>(1, [to, id](uint64_t n, std::string error) {
    caf::anon_send(to, forward_atom::value, id, error.empty() ? n : uint64_t{0}, std::move(error));
  });
  if (events.empty()) {
    answer->done(0);
    return;
  }
  // Split over the shards as on a node alone (a view that is not clustered owns every key).
  auto split = ingest_split::of(std::move(events), cluster_view{}, st.shards.size());
  auto ticket = after_keeper_flush(st.link, std::move(answer), split.local_parts());
  for (size_t i = 0; i < split.local.size(); ++i)
    if (!split.local[i].empty())
      self->send(st.shards[i], ingest_atom::value, std::move(split.local[i]), ticket);
}

caf::error decode_error(const error& err) {
  return caf::make_error(caf::sec::runtime_error, "cluster entries did not decode: " + err.message);
}

}  // namespace

bool relaying_now() {
  return relaying;
}

keeper_actor::behavior_type keeper(self_ptr self, store* db, pubsub* hub, cluster_link* link,
                                   router_actor router, keeper_options opts,
                                   std::vector<stream_actor> shards) {
  auto& st = self->state;
  st.shards = std::move(shards);
  st.db = db;
  st.hub = hub;
  st.link = link;
  st.router = std::move(router);
  st.opts = opts;
  st.replicas = std::make_unique<replica_set>(db, db->memory().default_ttl());
  if (auto loaded = st.replicas->load(); !loaded)
    spdlog::error("keeper: cannot read the replicas held: {}", loaded.error().message);
  link->counters.replicas_held.store(st.replicas->size(), std::memory_order_relaxed);
  st.graves = std::make_unique<tombstones>(db, opts.tombstone_horizon);
  if (auto loaded = st.graves->load(now_micros()); !loaded)
    spdlog::error("keeper: cannot read the tombstones held: {}", loaded.error().message);
  st.next_grave_reap = clock_type::now() + opts.tombstone_reap_every;
  link->counters.state_replicas_held.store(st.replicas->states_size(), std::memory_order_relaxed);
  for (auto& s : st.replicas->states())
    st.states_from_disk.insert(state_slices::key_hash(s));
  // What the streams restored from their checkpoint, asked before any event can reach them
  // (the listeners start after the keeper): state_at_start.
  collect_states(self, [self](std::vector<key_state> all) {
    for (auto& s : all)
      self->state.state_at_start[state_slices::key_hash(s)] = state_slices::digest(s);
  });
  st.relay = std::make_shared<relay_buffer>();
  st.relay->capacity = opts.relay_capacity;
  self->delayed_send(self, opts.tick, tick_atom::value);
  return {
      // A peer's router forwards events this node owns; the answer goes back to it as a
      // message (no request: no reply routed back through this actor, no timeout timer).
      [=](forward_atom, std::string& bytes, uint64_t id) {
        auto to = caf::actor_cast<router_actor>(self->current_sender());
        if (!to)
          return;
        auto events = event_batch_codec::decode(bytes);
        if (!events) {
          caf::anon_send(to, forward_atom::value, id, uint64_t{0},
                         "forwarded batch did not decode: " + events.error().message);
          return;
        }
        if (leaving_now(self)) {
          // The sender's view still has this node as the owner: route it again, to the
          // owner among the staying members.
          self->request(self->state.router, caf::infinite, ingest_atom::value, std::move(*events))
              .then([to, id](uint64_t n) { caf::anon_send(to, forward_atom::value, id, n, ""); },
                    [self, to, id](caf::error& err) {
                      caf::anon_send(to, forward_atom::value, id, uint64_t{0},
                                     self->system().render(err));
                    });
          return;
        }
        bump(self->state.link->counters.forwarded_in, events->size());
        bump(self->state.link->counters.forward_batches_in, 1);
        run_forwarded(self, std::move(*events), std::move(to), id);
      },
      [=](regroup_atom, std::string& bytes) -> caf::result<uint64_t> {
        return self->delegate(self->state.router, regroup_atom::value, std::move(bytes));
      },
      [=](index_write_atom, const std::string& bytes) -> caf::result<uint64_t> {
        auto events = event_batch_codec::decode(bytes);
        if (!events)
          return decode_error(events.error());
        if (leaving_now(self))
          return pass_on(self, std::move(*events));
        bump(self->state.link->counters.index_forwarded_in, events->size());
        auto n = apply_owned(self, *events);
        if (!n)
          return caf::make_error(caf::sec::runtime_error, n.error().message);
        return uint64_t{*n};
      },
      [=](replica_atom, const std::string& bytes) -> caf::result<uint64_t> {
        auto& st = self->state;
        auto events = event_batch_codec::decode(bytes);
        if (!events)
          return decode_error(events.error());
        bump(st.link->counters.replicated_in, events->size());
        auto n = events->size();
        settle_tombstones(self, *events, false);
        auto snap = st.link->get();
        // A copy of a key this node owns by now (the views moved while it travelled)
        // joins the index if it is newer, and goes on to the current replicas.
        std::vector<event> owned, copies;
        for (auto& e : *events)
          (snap->view.clustered() && snap->view.owns(ownership::key_hash(e)) ? owned : copies)
              .push_back(std::move(e));
        for (auto& e : owned)
          if (!(e.state && *e.state == "expired"))
            st.link->outbox.push_replicate(e);
        std::erase_if(owned, [](const event& e) { return e.state && *e.state == "expired"; });
        if (auto r = apply_newer(self, std::move(owned)); !r)
          return caf::make_error(caf::sec::runtime_error, r.error().message);
        if (auto r = st.replicas->apply(copies); !r)
          return caf::make_error(caf::sec::runtime_error, r.error().message);
        st.link->counters.replicas_held.store(st.replicas->size(), std::memory_order_relaxed);
        return uint64_t{n};
      },
      [=](handoff_atom, const std::string& bytes) -> caf::result<uint64_t> {
        auto& st = self->state;
        auto events = event_batch_codec::decode(bytes);
        if (!events)
          return decode_error(events.error());
        if (leaving_now(self))
          return pass_on(self, std::move(*events));
        bump(st.link->counters.handed_off_in, events->size());
        auto n = events->size();
        settle_tombstones(self, *events, true);
        auto snap = st.link->get();
        for (auto& e : *events)
          if (snap->view.owns(ownership::key_hash(e)))
            st.link->outbox.push_replicate(e);
        if (auto r = apply_newer(self, std::move(*events)); !r)
          return caf::make_error(caf::sec::runtime_error, r.error().message);
        return uint64_t{n};
      },
      [=](state_handoff_atom, const std::string& bytes) -> caf::result<uint64_t> {
        auto& st = self->state;
        auto slices = state_slices::decode(bytes);
        if (!slices)
          return caf::make_error(caf::sec::runtime_error, slices.error().message);
        if (leaving_now(self))
          return caf::make_error(caf::sec::runtime_error,
                                 "node " + st.link->get()->view.self() +
                                     " is leaving and takes no stream state; the key's "
                                     "staying owner starts it from its replica");
        auto n = slices->size();
        bump(st.link->counters.state_handed_off_in, n);
        auto rp = self->make_response_promise<uint64_t>();
        import_states(
            self, std::move(*slices), [self, rp, n](uint64_t, std::string failure) mutable {
              if (failure.empty()) {
                rp.deliver(uint64_t{n});
                return;
              }
              spdlog::error("keeper: importing handed-off stream state of {} key(s) failed: {}", n,
                            failure);
              rp.deliver(caf::make_error(caf::sec::runtime_error,
                                         "importing stream state failed: " + failure));
            });
        return rp;
      },
      [=](state_replica_atom, const std::string& bytes) -> caf::result<uint64_t> {
        auto& st = self->state;
        auto slices = state_slices::decode(bytes);
        if (!slices)
          return caf::make_error(caf::sec::runtime_error, slices.error().message);
        bump(st.link->counters.state_replicated_in, slices->size());
        auto snap = st.link->get();
        // A key this node owns by now (the views moved while it travelled) keeps the state its
        // own streams hold.
        std::erase_if(*slices, [&](const key_state& s) {
          return snap->view.clustered() && snap->view.owns(state_slices::key_hash(s));
        });
        for (auto& s : *slices)
          st.states_from_disk.erase(state_slices::key_hash(s));
        if (auto r = st.replicas->put_states(*slices); !r)
          return caf::make_error(caf::sec::runtime_error, r.error().message);
        st.link->counters.state_replicas_held.store(st.replicas->states_size(),
                                                    std::memory_order_relaxed);
        return uint64_t{slices->size()};
      },
      [=](cquery_atom, const std::string& text) -> caf::result<std::string, std::string> {
        auto& st = self->state;
        std::vector<event> owned, copies;
        if (text.find_first_not_of(" \t\r\n,") != std::string::npos) {
          auto pred = query::parse_cached(text);
          if (!pred)
            return caf::make_error(caf::sec::runtime_error, pred.error().message);
          owned = st.db->select(*pred);
          copies = st.replicas->select(*pred);
        }
        return {event_batch_codec::encode(owned), event_batch_codec::encode(copies)};
      },
      [=](watch_atom, const std::string& node) {
        auto& st = self->state;
        st.watchers[node] = clock_type::now() + st.opts.watch_lease;
        if (st.relay_sub == 0) {
          st.relay_sub = st.hub->subscribe("index", std::nullopt, [buf = st.relay](const event& e) {
            if (relaying)
              return;
            std::lock_guard lock{buf->mtx};
            if (buf->events.size() < buf->capacity)
              buf->events.push_back(e);
            else
              ++buf->dropped;
          });
        }
      },
      [=](relay_atom, const std::string& bytes) {
        auto events = event_batch_codec::decode(bytes);
        if (!events)
          return;
        relaying = true;
        for (auto& e : *events)
          self->state.hub->publish("index", e);
        relaying = false;
      },
      [=](flush_atom) -> caf::result<uint64_t> { return flush_outbox(self); },
      [=](flush_atom, ingest_ticket& ticket) {
        // Replication failures are counted here; the owner has the writes either way.
        flush_outbox(self, [ticket = std::move(ticket)] { ticket->done(0); });
      },
      [=](rebalance_atom) { rebalance(self); },
      [=](leave_atom) -> caf::result<uint64_t> {
        auto& st = self->state;
        if (st.leave_reply)
          return caf::make_error(caf::sec::runtime_error, "this node is already leaving");
        st.leaving = true;
        if (!st.link->get()->view.clustered()) {
          // The last member stopping: there is nobody to hand anything to, and its entries
          // stay in its data directory for its next start.
          spdlog::info("keeper: last member leaving; its {} index entries stay on disk",
                       st.db->size());
          return uint64_t{0};
        }
        st.leave_placing = true;
        auto rp = self->make_response_promise<uint64_t>();
        st.leave_reply = rp;
        st.leave_placed = 0;
        // Writes queued for owners and replicas go first, by the view without leavers.
        send_outbox(self, st.link->outbox.take(), st.next_seq++);
        // The streams' final per-key state (they ran everything before the final checkpoint)
        // goes to each key's staying owner, replacing what it imported from its replica.
        if (st.prev) {
          ++st.state_open;
          collect_states(self, [self, before = *st.prev](std::vector<key_state> all) {
            auto& st = self->state;
            auto snap = st.link->get();
            auto moves =
                plan_state_leave(before, snap->view, changed_since_start(self, std::move(all)));
            // A staying owner that was the key's replica holds its state as last replicated
            // and imported it at the announcement: only newer state replaces it (and would
            // forget what that owner ran since).
            for (auto& [node, slices] : moves)
              std::erase_if(slices, [&, node = node](const key_state& s) {
                auto h = state_slices::key_hash(s);
                auto sent = st.state_sent.find(h);
                auto reps = before.replicas(h);
                return sent != st.state_sent.end() && sent->second == state_slices::digest(s) &&
                       std::find(reps.begin(), reps.end(), node) != reps.end();
              });
            std::erase_if(moves, [](const auto& m) { return m.second.empty(); });
            for (auto& [node, slices] : moves) {
              spdlog::info("keeper: leaving; handing the stream state of {} key(s) to {}",
                           slices.size(), node);
              ++st.state_open;
              send_states(self, *snap, node, state_handoff_atom::value, std::move(slices),
                          &st.link->counters.state_handed_off_out,
                          &st.link->counters.state_handoff_failures, [self](bool) {
                            --self->state.state_open;
                            maybe_finish_leave(self);
                          });
            }
            --st.state_open;
            maybe_finish_leave(self);
          });
        }
        auto entries = everything(st.db->memory());
        auto p = std::make_shared<placement>();
        p->deadline = clock_type::now() + st.opts.leave_deadline;
        p->release_after = true;
        p->done = [self](uint64_t placed, std::vector<event> unplaced) {
          auto& st = self->state;
          st.leave_placed = placed;
          if (!unplaced.empty()) {
            bump(st.link->counters.handoff_unplaced, unplaced.size());
            auto snap = st.link->get();
            spdlog::error(
                "keeper: leaving with {} index entries no staying member acknowledged within "
                "{} s ({}); they stay in this node's data directory and come back if it "
                "returns with it",
                unplaced.size(), st.opts.leave_deadline.count() / 1000.0,
                snap->view.members().empty() ? "every member known is leaving"
                                             : "sends failed until the deadline");
          }
          st.leave_placing = false;
          maybe_finish_leave(self);
        };
        place_round(self, p, std::move(entries));
        return rp;
      },
      [=](tick_atom) {
        auto& st = self->state;
        // Writes made outside an ingest (stream timers, the reaper); held back while sends
        // are still open, so a slow peer fills the bounded outbox instead of memory (and
        // flushes waiting for the open sends are never overtaken: send_deferred).
        if (!st.link->outbox.empty() && st.open.empty())
          send_outbox(self, st.link->outbox.take(), st.next_seq++);
        relay_tick(self);
        auto now = clock_type::now();
        std::vector<std::shared_ptr<placement>> due;
        std::erase_if(st.retries, [&](auto& r) {
          if (r.first > now)
            return false;
          due.push_back(r.second);
          return true;
        });
        for (auto& p : due)
          place_round(self, p, std::exchange(p->retry, {}));
        std::erase_if(st.releases, [&](const keeper_state::pending_release& r) {
          if (r.due > now)
            return false;
          release(self, *r.sent, r.keep);
          return true;
        });
        if (st.prev && clock_type::now() >= st.next_rebalance)
          rebalance(self);
        if (now >= st.next_grave_reap) {
          st.next_grave_reap = now + st.opts.tombstone_reap_every;
          if (auto r = st.graves->reap(now_micros()); !r)
            spdlog::error("keeper: cannot forget old tombstones: {}", r.error().message);
        }
        if (st.prev && !st.state_replicating && now >= st.next_state_replication &&
            st.link->replication > 1 && st.link->get()->view.clustered() && !leaving_now(self)) {
          st.next_state_replication = now + st.opts.state_replicate_every;
          replicate_states(self);
        }
        self->delayed_send(self, st.opts.tick, tick_atom::value);
      },
  };
}

}  // namespace dmon
