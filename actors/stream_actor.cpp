// Stream actor: maps ingest and tick messages onto stream_host calls.
#include "stream_actor.hpp"

#include <caf/all.hpp>

namespace dmon {

namespace {

void publish(const stream_host& host, shard_counters& out) {
  auto& c = host.counters();
  out.events_in.store(c.events_in, std::memory_order_relaxed);
  out.root_exceptions.store(c.root_exceptions, std::memory_order_relaxed);
  out.child_exceptions.store(c.child_exceptions, std::memory_order_relaxed);
  out.skipped.store(c.skipped, std::memory_order_relaxed);
  out.rebuilds.store(c.rebuilds, std::memory_order_relaxed);
}

}  // namespace

stream_actor::behavior_type stream(stream_actor::stateful_pointer<stream_state> self,
                                   std::unique_ptr<stream_host> host, shard_counters* counters,
                                   std::chrono::milliseconds tick) {
  self->state.host = std::move(host);
  self->state.counters = counters;
  self->delayed_send(self, tick, tick_atom::value);
  return {
      [=](ingest_atom, const std::vector<event>& batch) -> uint64_t {
        self->state.host->process(batch);
        publish(*self->state.host, *self->state.counters);
        return batch.size();
      },
      [=](tick_atom) {
        self->state.host->tick(now_micros());
        publish(*self->state.host, *self->state.counters);
        self->delayed_send(self, tick, tick_atom::value);
      },
  };
}

}  // namespace dmon
