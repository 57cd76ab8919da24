// Regrouped events from a shard to the router: the shard's reply waits for the new owners.
#include "regroup_relay.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

namespace dmon {

namespace {

using self_ptr = stream_actor::stateful_pointer<stream_state>;

regrouped_batch take(shard_context& ctx) {
  regrouped_batch out;
  std::swap(out, ctx.writes->regrouped);
  return out;
}

// Whom a shard's batch answers: the requester's promise, or a ticket.
struct answer_to {
  caf::typed_response_promise<uint64_t> rp;
  ingest_ticket ticket;

  void ok(uint64_t n) {
    if (ticket)
      ticket->done(n);
    else
      rp.deliver(n);
  }
  void fail(std::string why) {
    if (ticket)
      ticket->failed(std::move(why));
    else
      rp.deliver(caf::make_error(caf::sec::runtime_error, std::move(why)));
  }
};

// The shard's reply once both the storage actor (the batch's writes in the WAL) and the
// router (the regrouped events run) answered; the first failure answers at once.
struct join {
  answer_to to;
  size_t pending = 0;
  uint64_t reply = 0;
  std::string failure;

  void done() {
    if (pending == 0 || --pending != 0)
      return;
    if (failure.empty())
      to.ok(reply);
    else
      to.fail(failure);
  }
  void failed(std::string why) {
    if (pending == 0)
      return;
    pending = 0;
    to.fail(std::move(why));
  }
};

bool have_router(const shard_context& ctx) {
  return ctx.router && *ctx.router;
}

// Sends what the message left (regrouped events, writes) on its way and returns true, having
// arranged for `make_answer()`'s target to be answered once everything ran; returns false,
// sending nothing, when there is nothing to wait for (the caller answers at once).
bool relay(self_ptr self, uint64_t reply, std::string& failure,
           const std::function<answer_to()>& make_answer) {
  auto& ctx = self->state.ctx;
  auto& w = *ctx.writes;
  auto batch = take(ctx);
  if (!batch.empty() && !have_router(ctx)) {
    spdlog::error("stream shard {}: {} regrouped events dropped: no router (shutting down)",
                  ctx.shard, batch.size());
    batch.clear();
  }
  // As in the ingest handler: a batch that wrote nothing still waits for this shard's earlier
  // writes still on their way to the WAL.
  bool write =
      !w.index.empty() || !w.history.empty() || w.unanswered.load(std::memory_order_acquire) != 0;
  if (batch.empty() && !write)
    return false;
  auto j = std::make_shared<join>();
  j->to = make_answer();
  j->pending = (write ? 1 : 0) + (batch.empty() ? 0 : 1);
  j->reply = reply;
  j->failure = std::move(failure);
  if (write) {
    w.unanswered.fetch_add(1, std::memory_order_relaxed);
    std::vector<event> index = index_events(w.index), history;
    std::swap(history, w.history);
    self->request(ctx.storage, caf::infinite, write_atom::value, static_cast<int32_t>(ctx.shard),
                  std::move(index), std::move(history), reply)
        .then([j](uint64_t) { j->done(); },
              [j, self](caf::error& err) {
                j->failed("storage failed, the events' index writes were not made: " +
                          self->system().render(err));
              });
  }
  if (!batch.empty()) {
    // No timeout here: the router bounds the wait on other nodes (forward_timeout) and local
    // shards always answer. While waiting, this shard goes on handling messages (regrouped
    // events for itself among them): `then` does not block the mailbox.
    self->request(*ctx.router, caf::infinite, regroup_atom::value, std::move(batch))
        .then([j](uint64_t) { j->done(); },
              [j, self](caf::error& err) {
                j->failed("regrouped events did not run on the owner of their new key: " +
                          self->system().render(err));
              });
  }
  return true;
}

}  // namespace

caf::result<uint64_t> relay_regrouped(self_ptr self, uint64_t reply, std::string failure) {
  caf::typed_response_promise<uint64_t> rp;
  if (relay(self, reply, failure, [&] {
        rp = self->make_response_promise<uint64_t>();
        return answer_to{rp, nullptr};
      }))
    return rp;
  if (!failure.empty())
    return caf::make_error(caf::sec::runtime_error, failure);
  return reply;
}

void relay_regrouped(self_ptr self, uint64_t reply, ingest_ticket ticket, std::string failure) {
  if (relay(self, reply, failure, [&] { return answer_to{{}, ticket}; }))
    return;
  if (!failure.empty())
    ticket->failed(std::move(failure));
  else
    ticket->done(reply);
}

void relay_regrouped_from_timers(self_ptr self) {
  auto& ctx = self->state.ctx;
  auto batch = take(ctx);
  if (batch.empty() || !have_router(ctx))
    return;
  auto n = batch.size();
  int shard = ctx.shard;
  self->request(*ctx.router, caf::infinite, regroup_atom::value, std::move(batch))
      .then([](uint64_t) {},
            [self, n, shard](caf::error& err) {
              spdlog::error(
                  "stream shard {}: {} regrouped events from timers did not run on the owner "
                  "of their new key: {}",
                  shard, n, self->system().render(err));
            });
}

std::string unknown_regroup_message(int shard, size_t count, const std::string& address) {
  return "shard " + std::to_string(shard) + " got " + std::to_string(count) +
         " regrouped event(s) for regroup() stream '" + address +
         "', which its stream module does not have: every node must load the same stream "
         "module (deploy it everywhere, then restart the nodes)";
}

}  // namespace dmon
