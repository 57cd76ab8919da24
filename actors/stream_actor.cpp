// Stream actor: maps ingest, tick and checkpoint messages onto stream_host and store calls.
#include "stream_actor.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include "regroup_relay.hpp"

namespace dmon {

namespace {

void publish(const stream_host& host, shard_counters& out) {
  auto& c = host.counters();
  out.events_in.store(c.events_in, std::memory_order_relaxed);
  out.root_exceptions.store(c.root_exceptions, std::memory_order_relaxed);
  out.child_exceptions.store(c.child_exceptions, std::memory_order_relaxed);
  out.skipped.store(c.skipped, std::memory_order_relaxed);
  out.rebuilds.store(c.rebuilds, std::memory_order_relaxed);
  out.regrouped_out.store(c.regrouped_out, std::memory_order_relaxed);
  out.regrouped_in.store(c.regrouped_in, std::memory_order_relaxed);
  out.regroup_unknown.store(c.regroup_unknown, std::memory_order_relaxed);
}

// Writes what the streams produced. Returns the storage error for the client's ack.
std::optional<error> flush(shard_context& ctx) {
  auto& w = *ctx.writes;
  std::optional<error> failed;
  if (!w.index.empty()) {
    auto started = std::chrono::steady_clock::now();
    auto written = ctx.db->apply(w.index);
    ctx.write_latency->observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    if (!written) {
      ctx.counters->index_failures.fetch_add(w.index.size(), std::memory_order_relaxed);
      failed = written.error();
    } else {
      ctx.counters->indexed.fetch_add(w.index.size(), std::memory_order_relaxed);
      for (auto& e : w.index)
        ctx.hub->publish("index", e);
    }
    w.index.clear();
  }
  if (!w.history.empty()) {
    auto stored = ctx.db->append_history(w.history);
    if (!stored) {
      ctx.counters->index_failures.fetch_add(w.history.size(), std::memory_order_relaxed);
      if (!failed)
        failed = stored.error();
    }
    w.history.clear();
  }
  return failed;
}

bool checkpoint(stream_actor::stateful_pointer<stream_state> self) {
  auto& st = self->state;
  auto text = st.host->snapshot_state();
  if (text.empty())
    return false;
  auto put = st.ctx.db->put_state(st.ctx.checkpoint_key, text);
  if (!put) {
    spdlog::error("stream shard {}: checkpoint failed: {}", st.ctx.shard, put.error().message);
    return false;
  }
  return true;
}

}  // namespace

std::string checkpoint_key(int shard, int shards) {
  return "streams/shards=" + std::to_string(shards) + "/shard=" + std::to_string(shard);
}

stream_actor::behavior_type stream(stream_actor::stateful_pointer<stream_state> self,
                                   std::unique_ptr<stream_host> host, shard_context ctx) {
  self->state.host = std::move(host);
  self->state.ctx = std::move(ctx);
  auto& st = self->state;
  if (auto saved = st.ctx.db->get_state(st.ctx.checkpoint_key); saved && *saved)
    st.host->restore_state(**saved);
  else if (!saved)
    spdlog::error("stream shard {}: cannot read the last checkpoint ({}); starting fresh",
                  st.ctx.shard, saved.error().message);
  self->delayed_send(self, st.ctx.tick, tick_atom::value);
  st.next_checkpoint = std::chrono::steady_clock::now() + st.ctx.checkpoint_every;
  return {
      [=](ingest_atom, const std::vector<event>& batch) -> caf::result<uint64_t> {
        auto& st = self->state;
        auto started = std::chrono::steady_clock::now();
        st.host->process(batch);
        if (!batch.empty())
          st.ctx.stream_latency->observe(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() /
              static_cast<double>(batch.size()));
        publish(*st.host, *st.ctx.counters);
        if (auto err = flush(st.ctx))
          return caf::make_error(
              caf::sec::runtime_error,
              "storage failed, the events' index writes were not made: " + err->message);
        return relay_regrouped(self, batch.size());
      },
      [=](tick_atom) {
        auto& st = self->state;
        st.host->tick(now_micros());
        publish(*st.host, *st.ctx.counters);
        if (auto err = flush(st.ctx))
          spdlog::error("stream shard {}: writes from timers failed: {}", st.ctx.shard,
                        err->message);
        relay_regrouped_from_timers(self);
        auto now = std::chrono::steady_clock::now();
        if (st.ctx.checkpoint_every.count() > 0 && now >= st.next_checkpoint) {
          st.next_checkpoint = now + st.ctx.checkpoint_every;
          checkpoint(self);
        }
        self->delayed_send(self, st.ctx.tick, tick_atom::value);
      },
      [=](checkpoint_atom) -> bool { return checkpoint(self); },
      [=](regroup_atom, const regrouped_batch& batch) -> caf::result<uint64_t> {
        auto& st = self->state;
        std::string unknown;
        auto missing = st.host->deliver_regrouped(batch, &unknown);
        publish(*st.host, *st.ctx.counters);
        if (auto err = flush(st.ctx))
          return caf::make_error(
              caf::sec::runtime_error,
              "storage failed, regrouped events' index writes were not made: " + err->message);
        return relay_regrouped(
            self, batch.size(),
            missing ? unknown_regroup_message(st.ctx.shard, missing, unknown) : std::string{});
      },
  };
}

}  // namespace dmon
