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

// Hands what the streams produced to the storage actor, leaving the shard's buffers empty but
// sized like this batch's (growing them from empty per batch moved every write several times).
std::tuple<write_atom, int32_t, std::vector<event>, std::vector<event>> take_writes(
    shard_context& ctx) {
  auto& w = *ctx.writes;
  auto index_size = w.index.size(), history_size = w.history.size();
  std::tuple<write_atom, int32_t, std::vector<event>, std::vector<event>> out{
      write_atom::value, static_cast<int32_t>(ctx.shard), index_events(w.index),
      std::move(w.history)};
  w.history.clear();
  w.index.reserve(index_size);
  w.history.reserve(history_size);
  return out;
}

// Runs a batch through the streams and publishes the shard's counters. The batch is this
// message's own (nothing reads its events afterwards, only its size), so the streams may move
// its events into their sinks instead of copying them.
void run(stream_actor::stateful_pointer<stream_state> self, std::vector<event>& batch) {
  auto& st = self->state;
  auto started = std::chrono::steady_clock::now();
  st.host->process_owned(batch);
  if (!batch.empty())
    st.ctx.stream_latency->observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() /
        static_cast<double>(batch.size()));
  publish(*st.host, *st.ctx.counters);
}

// Nothing written and nothing of this shard still on its way to the WAL: the ack may go now,
// saving a hop through the storage thread (filters, bit buckets).
bool answerable_now(const shard_writes& w) {
  return w.index.empty() && w.history.empty() && w.unanswered.load(std::memory_order_acquire) == 0;
}

// Whether this batch's writes may go to the store from here: the node wants it and none of
// the shard's earlier writes still waits at the storage actor (they must reach the store
// first, so a key's writes stay in order).
bool writes_inline(const stream_state& st) {
  return st.writer && st.ctx.writes->unanswered.load(std::memory_order_acquire) == 0;
}

std::optional<std::string> write_inline(stream_state& st) {
  return st.writer->write(st.ctx.writes->index, st.ctx.writes->history);
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

// The per-key part of the shard's stream state, for the keeper: every key (handoff), or only
// those changed since the last changed-only export (replication rounds).
std::vector<key_state> export_key_states(stream_actor::stateful_pointer<stream_state> self,
                                         bool changed_only) {
  return self->state.host->export_keys(changed_only ? stream_host::key_export::changed
                                                    : stream_host::key_export::all);
}

// Keys' state from their previous owner (or a replica): replaces the shard's for those keys.
uint64_t import_key_states(stream_actor::stateful_pointer<stream_state> self,
                           const std::vector<key_state>& slices) {
  return self->state.host->import_keys(slices);
}

}  // namespace

std::vector<event> index_events(std::vector<keyed_event>& index) {
  std::vector<event> out;
  out.reserve(index.size());
  for (auto& w : index)
    out.push_back(std::move(w.e));
  index.clear();
  return out;
}

std::string checkpoint_key(int shard, int shards) {
  return "streams/shards=" + std::to_string(shards) + "/shard=" + std::to_string(shard);
}

stream_actor::behavior_type stream(stream_actor::stateful_pointer<stream_state> self,
                                   std::unique_ptr<stream_host> host, shard_context ctx) {
  self->state.host = std::move(host);
  self->state.ctx = std::move(ctx);
  auto& st = self->state;
  if (st.ctx.write_inline)
    st.writer.emplace(*st.ctx.write_inline, *st.ctx.counters);
  if (auto saved = st.ctx.db->get_state(st.ctx.checkpoint_key); saved && *saved)
    st.host->restore_state(**saved);
  else if (!saved)
    spdlog::error("stream shard {}: cannot read the last checkpoint ({}); starting fresh",
                  st.ctx.shard, saved.error().message);
  self->delayed_send(self, st.ctx.tick, tick_atom::value);
  st.next_checkpoint = std::chrono::steady_clock::now() + st.ctx.checkpoint_every;
  return {
      [=](ingest_atom, std::vector<event>& batch) -> caf::result<uint64_t> {
        auto& st = self->state;
        run(self, batch);
        // Regrouped events: the reply waits for their new owners as well (regroup_relay.hpp).
        if (!st.ctx.writes->regrouped.empty())
          return relay_regrouped(self, batch.size());
        if (answerable_now(*st.ctx.writes))
          return uint64_t{batch.size()};
        if (writes_inline(st)) {
          if (auto failed = write_inline(st))
            return caf::make_error(caf::sec::runtime_error, std::move(*failed));
          return uint64_t{batch.size()};
        }
        // The storage actor answers the requester once the writes are in the WAL (or fails
        // it with the store's reason); this shard goes on with its next batch meanwhile.
        st.ctx.writes->unanswered.fetch_add(1, std::memory_order_relaxed);
        auto [atom, shard, index_writes, history] = take_writes(st.ctx);
        return self->delegate(st.ctx.storage, atom, shard, std::move(index_writes),
                              std::move(history), uint64_t{batch.size()});
      },
      [=](ingest_atom, std::vector<event>& batch, ingest_ticket& ticket) {
        // As above, answering the ticket instead of a requester: from here when nothing
        // needs the WAL, else from the storage actor, with no hop back through this shard.
        auto& st = self->state;
        run(self, batch);
        if (!st.ctx.writes->regrouped.empty()) {
          relay_regrouped(self, batch.size(), std::move(ticket));
          return;
        }
        if (answerable_now(*st.ctx.writes)) {
          ticket->done(batch.size());
          return;
        }
        if (writes_inline(st)) {
          if (auto failed = write_inline(st))
            ticket->failed(*failed);
          else
            ticket->done(batch.size());
          return;
        }
        st.ctx.writes->unanswered.fetch_add(1, std::memory_order_relaxed);
        auto [atom, shard, index_writes, history] = take_writes(st.ctx);
        self->send(st.ctx.storage, atom, shard, std::move(index_writes), std::move(history),
                   uint64_t{batch.size()}, std::move(ticket));
      },
      [=](tick_atom) {
        auto& st = self->state;
        st.host->tick(now_micros());
        publish(*st.host, *st.ctx.counters);
        bool wrote = !st.ctx.writes->index.empty() || !st.ctx.writes->history.empty();
        if (wrote && writes_inline(st)) {
          if (auto failed = write_inline(st))
            spdlog::error("stream shard {}: writes from timers failed: {}", st.ctx.shard, *failed);
        } else if (wrote) {
          st.ctx.writes->unanswered.fetch_add(1, std::memory_order_relaxed);
          auto [atom, shard, index_writes, history] = take_writes(st.ctx);
          self->request(st.ctx.storage, caf::infinite, atom, shard, std::move(index_writes),
                        std::move(history), uint64_t{0})
              .then([](uint64_t) {},
                    [=](caf::error& err) {
                      spdlog::error("stream shard {}: writes from timers failed: {}",
                                    self->state.ctx.shard, self->system().render(err));
                    });
        }
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
        return relay_regrouped(
            self, batch.size(),
            missing ? unknown_regroup_message(st.ctx.shard, missing, unknown) : std::string{});
      },
      [=](state_export_atom, bool changed_only) { return export_key_states(self, changed_only); },
      [=](state_import_atom, const std::vector<key_state>& slices) {
        return import_key_states(self, slices);
      },
  };
}

}  // namespace dmon
