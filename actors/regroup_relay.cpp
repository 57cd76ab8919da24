// Regrouped events from a shard to the router: the shard's reply waits for the new owners.
#include "regroup_relay.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

namespace dmon {

namespace {

regrouped_batch take(shard_context& ctx) {
  regrouped_batch out;
  std::swap(out, ctx.writes->regrouped);
  return out;
}

}  // namespace

caf::result<uint64_t> relay_regrouped(stream_actor::stateful_pointer<stream_state> self,
                                      uint64_t reply, std::string failure) {
  auto& ctx = self->state.ctx;
  auto batch = take(ctx);
  if (batch.empty() || !ctx.router || !*ctx.router) {
    if (!batch.empty())
      spdlog::error("stream shard {}: {} regrouped events dropped: no router (shutting down)",
                    ctx.shard, batch.size());
    if (!failure.empty())
      return caf::make_error(caf::sec::runtime_error, failure);
    return reply;
  }
  auto rp = self->make_response_promise<uint64_t>();
  // No timeout here: the router bounds the wait on other nodes (forward_timeout) and local
  // shards always answer. While waiting, this shard goes on handling messages (regrouped
  // events for itself among them): `then` does not block the mailbox.
  self->request(*ctx.router, caf::infinite, regroup_atom::value, std::move(batch))
      .then(
          [rp, reply, failure](uint64_t) mutable {
            if (failure.empty())
              rp.deliver(reply);
            else
              rp.deliver(caf::make_error(caf::sec::runtime_error, failure));
          },
          [rp, self](caf::error& err) mutable {
            rp.deliver(
                caf::make_error(caf::sec::runtime_error,
                                "regrouped events did not run on the owner of their new key: " +
                                    self->system().render(err)));
          });
  return rp;
}

void relay_regrouped_from_timers(stream_actor::stateful_pointer<stream_state> self) {
  auto& ctx = self->state.ctx;
  auto batch = take(ctx);
  if (batch.empty() || !ctx.router || !*ctx.router)
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
