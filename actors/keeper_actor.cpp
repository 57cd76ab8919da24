// Keeper actor: applies what other nodes send, sends replicas and handoffs, answers query shares.
#include "keeper_actor.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <algorithm>
#include <optional>
#include <unordered_set>

#include "event_batch_codec.hpp"
#include "handoff.hpp"
#include "ownership.hpp"

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

// Applies entries to this node's index where they are at least as new as what it holds
// (a handoff or a late replica may carry an older copy than a write made here since).
result<size_t> apply_newer(self_ptr self, std::vector<event> entries) {
  auto& st = self->state;
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
      it->second.deliver(uint64_t{0});
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
  for (auto& rp : st.deferred_flushes)
    st.waiters.emplace_back(seq, std::move(rp));
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

// A flush: answered once every write queued before it was sent on. While earlier sends are
// open it waits for them, and what was queued meanwhile goes as one batch (send_deferred).
caf::result<uint64_t> flush_outbox(self_ptr self) {
  auto& st = self->state;
  if (!st.open.empty()) {
    auto rp = self->make_response_promise<uint64_t>();
    st.deferred_flushes.push_back(rp);
    return rp;
  }
  auto seq = st.next_seq++;
  send_outbox(self, st.link->outbox.take(), seq);
  if (st.open.empty() || st.open.begin()->first > seq)
    return uint64_t{0};
  auto rp = self->make_response_promise<uint64_t>();
  st.waiters.emplace_back(seq, rp);
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
  if (!st.leave_reply || st.leave_placing || st.passing_on > 0)
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
  auto plan = plan_handoff(prev, next, everything(st.db->memory()), st.replicas->all());
  st.prev = next;
  st.next_rebalance = clock_type::now() + st.opts.rebalance_every;
  auto& counters = st.link->counters;
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

caf::error decode_error(const error& err) {
  return caf::make_error(caf::sec::runtime_error, "cluster entries did not decode: " + err.message);
}

}  // namespace

bool relaying_now() {
  return relaying;
}

keeper_actor::behavior_type keeper(self_ptr self, store* db, pubsub* hub, cluster_link* link,
                                   router_actor router, keeper_options opts) {
  auto& st = self->state;
  st.db = db;
  st.hub = hub;
  st.link = link;
  st.router = std::move(router);
  st.opts = opts;
  st.replicas = std::make_unique<replica_set>(db, db->memory().default_ttl());
  if (auto loaded = st.replicas->load(); !loaded)
    spdlog::error("keeper: cannot read the replicas held: {}", loaded.error().message);
  link->counters.replicas_held.store(st.replicas->size(), std::memory_order_relaxed);
  st.relay = std::make_shared<relay_buffer>();
  st.relay->capacity = opts.relay_capacity;
  self->delayed_send(self, opts.tick, tick_atom::value);
  return {
      [=](forward_atom, std::string& bytes) -> caf::result<uint64_t> {
        if (leaving_now(self)) {
          // The sender's view still has this node as the owner: route it again, to the
          // owner among the staying members.
          auto events = event_batch_codec::decode(bytes);
          if (!events)
            return decode_error(events.error());
          return self->delegate(self->state.router, ingest_atom::value, std::move(*events));
        }
        return self->delegate(self->state.router, forward_atom::value, std::move(bytes));
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
        return uint64_t{events->size()};
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
        auto snap = st.link->get();
        for (auto& e : *events)
          if (snap->view.owns(ownership::key_hash(e)))
            st.link->outbox.push_replicate(e);
        if (auto r = apply_newer(self, std::move(*events)); !r)
          return caf::make_error(caf::sec::runtime_error, r.error().message);
        return uint64_t{n};
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
        self->delayed_send(self, st.opts.tick, tick_atom::value);
      },
  };
}

}  // namespace dmon
