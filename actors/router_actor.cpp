// Router actor: fan-out of a batch to its owners (shards here, other nodes) and fan-in.
#include "router_actor.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include "event_batch_codec.hpp"
#include "regroup.hpp"

namespace dmon {

// Collects the replies of every owner involved in one batch.
struct fan_in {
  std::function<void(uint64_t)> ok;
  std::function<void(caf::error)> fail;
  size_t pending = 0;
  uint64_t total = 0;
  bool failed = false;

  void done(uint64_t n) {
    total += n;
    if (--pending == 0 && !failed)
      ok(total);
  }
  void failure(caf::error err) {
    if (failed)
      return;
    failed = true;
    fail(std::move(err));
  }
};

namespace {

using self_ptr = router_actor::stateful_pointer<router_state>;

// How long a forwarded batch may take before the client is told it failed; a dead peer is
// noticed by the cluster actor much sooner, this only bounds the wait.
constexpr auto forward_timeout = std::chrono::seconds{30};
// How often unanswered forwards are checked against it.
constexpr auto forward_sweep = std::chrono::seconds{1};

// Sends events this node owns to their shards; each shard's reply counts towards `f`.
void fan_out_local(self_ptr self, std::vector<event> batch, const std::shared_ptr<fan_in>& f) {
  auto& st = self->state;
  std::vector<std::vector<event>> parts(st.shards.size());
  if (parts.size() == 1) {
    parts[0] = std::move(batch);
  } else {
    for (auto& p : parts)
      p.reserve(batch.size() / parts.size() + batch.size() / 8 + 1);
    for (auto& e : batch)
      parts[st.owners.shard_of(e)].push_back(std::move(e));
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty())
      continue;
    ++f->pending;
    self->request(st.shards[i], caf::infinite, ingest_atom::value, std::move(parts[i]))
        .then([f](uint64_t n) { f->done(n); }, [f](caf::error& err) { f->failure(err); });
  }
}

// A fan-in that calls `deliver` after the keeper sent what the batch wrote (in a cluster), or
// `fail` with the first failure.
std::shared_ptr<fan_in> answering(self_ptr self, std::function<void(uint64_t)> deliver,
                                  std::function<void(caf::error)> fail) {
  auto f = std::make_shared<fan_in>();
  f->fail = std::move(fail);
  f->ok = [self, deliver = std::move(deliver)](uint64_t n) {
    auto* link = self->state.link;
    // Nothing queued for replicas or other owners and nothing on its way (with replication
    // 1, unless a stream wrote a key another node owns): no keeper round trip.
    if (!link || !link->local_keeper || !link->clustered() || link->outbox.idle()) {
      deliver(n);
      return;
    }
    // Replication failures are counted by the keeper; the owner has the writes either way.
    self->request(caf::actor_cast<keeper_actor>(link->local_keeper), caf::infinite,
                  flush_atom::value)
        .then([deliver, n](uint64_t) { deliver(n); }, [deliver, n](caf::error&) { deliver(n); });
  };
  return f;
}

// The same, answering a request.
std::shared_ptr<fan_in> answering(self_ptr self, caf::typed_response_promise<uint64_t> rp) {
  return answering(
      self, [rp](uint64_t n) mutable { rp.deliver(n); },
      [rp](caf::error err) mutable { rp.deliver(std::move(err)); });
}

// Splits a clustered batch by owner node, keeping each key's events in order.
void split_by_owner(router_state& st, std::vector<event>& batch, std::vector<event>& local,
                    std::map<std::string, std::vector<event>>& remote) {
  for (auto& e : batch) {
    auto& owner = st.members.owner(ownership::key_hash(e));
    if (owner == st.self_id)
      local.push_back(std::move(e));
    else
      remote[owner].push_back(std::move(e));
  }
}

void send_forwards(self_ptr self, const std::string& owner);

// Queues events for their owner nodes (each counts once towards `f`) and sends what may go.
void forward(self_ptr self, std::map<std::string, std::vector<event>> remote,
             const std::shared_ptr<fan_in>& f) {
  auto& st = self->state;
  for (auto& [owner, events] : remote) {
    st.link->counters.forwarded_out.fetch_add(events.size(), std::memory_order_relaxed);
    ++f->pending;
    st.forwards.add(owner, std::move(events), f);
    send_forwards(self, owner);
  }
}

// Sends `owner` what its forward queue may send now. The owner's keeper answers with a message
// (forward_atom, id, events ran, error), handled by forward_answered(); the ingests whose
// events the batch carried are answered then, and the next batch may go.
void send_forwards(self_ptr self, const std::string& owner) {
  auto& st = self->state;
  while (auto b = st.forwards.next(owner)) {
    auto waiting = std::make_shared<std::vector<std::pair<std::shared_ptr<fan_in>, size_t>>>(
        std::move(b->waiting));
    auto n = b->events.size();
    auto fail = [self, owner, waiting, n](const std::string& why) {
      self->state.link->counters.forward_failures.fetch_add(n, std::memory_order_relaxed);
      for (auto& [f, count] : *waiting)
        f->failure(caf::make_error(caf::sec::runtime_error,
                                   "owner node " + owner + " did not process " +
                                       std::to_string(count) + " events: " + why));
    };
    auto peer = st.peers.find(owner);
    if (peer == st.peers.end()) {
      // Only while a members update is handled (queues of departed owners are re-routed).
      fail("it is no longer a member");
      st.forwards.done(owner);
      continue;
    }
    auto id = st.next_forward_id++;
    st.open_forwards[id] = {owner,
                            [self, owner, fail](const std::string& why) {
                              fail(why);
                              self->state.forwards.done(owner);
                            },
                            [self, owner, waiting] {
                              for (auto& [f, count] : *waiting)
                                f->done(count);
                              self->state.forwards.done(owner);
                            },
                            std::chrono::steady_clock::now() + forward_timeout};
    // Sized like the last forward: growing from empty copied every batch several times.
    std::string bytes;
    bytes.reserve(st.encoded_hint + st.encoded_hint / 4);
    event_batch_codec::encode_to(bytes, b->events);
    st.encoded_hint = bytes.size();
    st.link->counters.forward_batches_out.fetch_add(1, std::memory_order_relaxed);
    self->send(peer->second, forward_atom::value, std::move(bytes), id);
  }
}

// The owner answered forward `id` (an empty error: it ran `ran` events).
void forward_answered(self_ptr self, uint64_t id, const std::string& error) {
  auto& st = self->state;
  auto it = st.open_forwards.find(id);
  // Already failed: the owner left the view, or the answer came after the timeout.
  if (it == st.open_forwards.end())
    return;
  auto open = std::move(it->second);
  st.open_forwards.erase(it);
  if (error.empty())
    open.done();
  else
    open.fail(error);
  send_forwards(self, open.owner);
}

// Fails forwards unanswered for forward_timeout (a peer still in the view that does not
// answer; one that leaves the view fails its forwards at once, reroute_departed()).
void expire_forwards(self_ptr self) {
  auto& st = self->state;
  auto now = std::chrono::steady_clock::now();
  std::vector<router_state::open_forward> expired;
  for (auto i = st.open_forwards.begin(); i != st.open_forwards.end();) {
    if (i->second.deadline > now) {
      ++i;
      continue;
    }
    expired.push_back(std::move(i->second));
    i = st.open_forwards.erase(i);
  }
  for (auto& open : expired) {
    open.fail("it did not answer within " + std::to_string(forward_timeout.count()) + " s");
    send_forwards(self, open.owner);
  }
}

// After a members update: forwards still open to a node that left the view fail now (the
// clients retry, and the ring sends the retries to the key's new owner) rather than when
// the forward times out; events queued for it go to their owners in the new view (ingested
// events, never ones forwarded here, so nothing loops).
void reroute_departed(self_ptr self) {
  auto& st = self->state;
  std::vector<std::function<void(const std::string&)>> departed;
  for (auto i = st.open_forwards.begin(); i != st.open_forwards.end();) {
    if (st.peers.count(i->second.owner)) {
      ++i;
      continue;
    }
    departed.push_back(std::move(i->second.fail));
    i = st.open_forwards.erase(i);
  }
  for (auto& fail : departed)
    fail("it left the cluster view before answering (unreachable or gone); retry");
  for (auto& owner : st.forwards.waiting_peers()) {
    if (st.peers.count(owner))
      continue;
    auto b = st.forwards.take(owner);
    auto next = b.events.begin();
    for (auto& [f, count] : b.waiting) {
      std::vector<event> events(std::make_move_iterator(next),
                                std::make_move_iterator(next + static_cast<ptrdiff_t>(count)));
      next += static_cast<ptrdiff_t>(count);
      std::vector<event> local;
      std::map<std::string, std::vector<event>> remote;
      if (st.members.empty())
        local = std::move(events);
      else
        split_by_owner(st, events, local, remote);
      forward(self, std::move(remote), f);
      fan_out_local(self, std::move(local), f);
      f->done(0);  // the queued share; its events count when their new owners answer
    }
  }
}

// Delivers an ingested batch to its owners: local shards, other nodes (coalesced per peer);
// `f` answers once every owner ran its share.
void route(self_ptr self, std::vector<event> batch, const std::shared_ptr<fan_in>& f) {
  auto& st = self->state;
  // Alone, or every member is leaving: nowhere else to send it.
  if (st.members.empty() || !st.link || !st.link->clustered()) {
    fan_out_local(self, std::move(batch), f);
  } else {
    std::vector<event> local;
    std::map<std::string, std::vector<event>> remote;
    split_by_owner(st, batch, local, remote);
    forward(self, std::move(remote), f);
    fan_out_local(self, std::move(local), f);
  }
  // Replies arrive only after the handler returns, so `pending` is complete by then.
  if (f->pending == 0)
    f->ok(0);
}

// Delivers regrouped events to the owners of their new keys (docs/cluster.md, "regroup"): local
// shards directly, other nodes as one encoded batch each; a batch from a peer (`from_peer`)
// stays here. Replies once every owner ran its share (and, in a cluster, the keeper sent what
// they wrote), like an ingested batch.
caf::result<uint64_t> route_regrouped(self_ptr self, regrouped_batch batch, bool from_peer) {
  auto& st = self->state;
  static const ring alone;
  auto parts = regroup::split_by_owner(std::move(batch), from_peer ? alone : st.members, st.self_id,
                                       st.shards.size());
  auto rp = self->make_response_promise<uint64_t>();
  auto f = answering(self, rp);
  for (size_t i = 0; i < parts.local.size(); ++i) {
    if (parts.local[i].empty())
      continue;
    ++f->pending;
    self->request(st.shards[i], caf::infinite, regroup_atom::value, std::move(parts.local[i]))
        .then([f](uint64_t n) { f->done(n); }, [f](caf::error& err) { f->failure(err); });
  }
  for (auto& [owner, events] : parts.remote) {
    ++f->pending;
    auto n = events.size();
    self->request(st.peers.at(owner), forward_timeout, regroup_atom::value, regroup::encode(events))
        .then([f](uint64_t done) { f->done(done); },
              [=](caf::error& err) {
                f->failure(caf::make_error(caf::sec::runtime_error,
                                           "owner node " + owner + " did not run " +
                                               std::to_string(n) +
                                               " regrouped events: " + self->system().render(err)));
              });
  }
  // Replies arrive only after this handler returns, so `pending` is complete first.
  if (f->pending == 0)
    f->ok(0);
  return rp;
}

}  // namespace

router_actor::behavior_type router(self_ptr self, std::vector<stream_actor> shards,
                                   cluster_link* link) {
  self->state.owners = ownership{shards.size()};
  self->state.shards = std::move(shards);
  self->state.link = link;
  self->delayed_send(self, forward_sweep, tick_atom::value);
  return {
      [=](ingest_atom, std::vector<event>& batch) -> caf::result<uint64_t> {
        auto rp = self->make_response_promise<uint64_t>();
        route(self, std::move(batch), answering(self, rp));
        return rp;
      },
      // A TCP connection's read (it waits on the ticket, so no reply travels back through a
      // requesting actor).
      [=](ingest_atom, std::vector<event>& batch, ingest_ticket& ticket) {
        route(self, std::move(batch),
              answering(
                  self, [ticket](uint64_t n) { ticket->done(n); },
                  [self, ticket](caf::error err) { ticket->failed(self->system().render(err)); }));
      },
      // A listener's events for another owner: the listener split them by its view, and its
      // per-connection fence relies on them going to that owner (docs/cluster.md, "The
      // ingest path"). No keeper flush: the owner flushes what they wrote before it answers.
      [=](forward_atom, std::string& owner, std::vector<event>& batch, ingest_ticket& ticket) {
        auto& st = self->state;
        auto fail = [self, ticket](caf::error err) { ticket->failed(self->system().render(err)); };
        if (!st.peers.count(owner) || !st.link || !st.link->clustered()) {
          // It left this view since: its keys have new owners, as for any ingest.
          route(self, std::move(batch),
                answering(
                    self, [ticket](uint64_t n) { ticket->done(n); }, std::move(fail)));
          return;
        }
        auto f = std::make_shared<fan_in>();
        f->ok = [ticket](uint64_t n) { ticket->done(n); };
        f->fail = std::move(fail);
        std::map<std::string, std::vector<event>> remote;
        remote.emplace(std::move(owner), std::move(batch));
        forward(self, std::move(remote), f);
      },
      [=](forward_atom, uint64_t id, uint64_t, const std::string& error) {
        forward_answered(self, id, error);
      },
      [=](tick_atom) {
        expire_forwards(self);
        self->delayed_send(self, forward_sweep, tick_atom::value);
      },
      [=](members_atom, const std::vector<cluster_member>& members) {
        auto& st = self->state;
        std::vector<std::string> ids, leaving;
        st.peers.clear();
        auto snap = std::make_shared<cluster_link::snapshot>();
        for (auto& m : members) {
          // A leaving member keeps its handle (queried until it exits) but owns nothing.
          (m.leaving ? leaving : ids).push_back(m.node_id);
          snap->keepers[m.node_id] = m.handle;
          if (m.handle == st.link->local_keeper)
            st.self_id = m.node_id;
          else
            st.peers[m.node_id] = caf::actor_cast<keeper_actor>(m.handle);
        }
        st.members = ring{ids};
        snap->view = cluster_view{st.members, st.self_id, st.link->replication, leaving};
        st.link->set(std::move(snap));
        spdlog::info("router: {} live member(s): {}{}{}", ids.size(), fmt::join(ids, ", "),
                     leaving.empty() ? "" : "; leaving: ", fmt::join(leaving, ", "));
        reroute_departed(self);
        if (st.link->local_keeper)
          self->send(caf::actor_cast<keeper_actor>(st.link->local_keeper), rebalance_atom::value);
      },
      [=](regroup_atom, regrouped_batch& batch) -> caf::result<uint64_t> {
        return route_regrouped(self, std::move(batch), false);
      },
      [=](regroup_atom, const std::string& bytes) -> caf::result<uint64_t> {
        auto batch = regroup::decode(bytes);
        if (!batch)
          return caf::make_error(caf::sec::runtime_error, batch.error().message);
        return route_regrouped(self, std::move(*batch), true);
      },
  };
}

}  // namespace dmon
