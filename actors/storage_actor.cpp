// Storage actor: maps shards' write messages onto commit groups and store writes.
#include "storage_actor.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

namespace dmon {

namespace {

using self_ptr = storage_actor::stateful_pointer<storage_state>;

// After a write message of `shard` was answered: its shard may skip the hop again once at zero.
void answered(storage_state& st, int32_t shard) {
  if (static_cast<size_t>(shard) < st.ctx.unanswered.size() && st.ctx.unanswered[shard])
    st.ctx.unanswered[shard]->fetch_sub(1, std::memory_order_release);
}

// Writes the open group and answers everyone who waited for it; returns whether it was written.
bool commit(self_ptr self) {
  auto& st = self->state;
  st.commit_scheduled = false;
  if (st.group.empty())
    return true;
  auto group = st.group.take();
  auto failed = write_group(st.ctx, group.index, group.history, st.to_publish);
  if (failed) {
    auto reason = "storage failed, the events' index writes were not made: " + failed->message;
    for (auto& a : group.acks) {
      st.ctx.counters[a.shard]->index_failures.fetch_add(a.index_writes + a.history_writes,
                                                         std::memory_order_relaxed);
      if (a.ticket)
        a.ticket->failed(reason);
      else
        a.rp.deliver(caf::make_error(caf::sec::runtime_error, reason));
      answered(st, a.shard);
    }
    return false;
  }
  for (auto& a : group.acks) {
    st.ctx.counters[a.shard]->indexed.fetch_add(a.index_writes, std::memory_order_relaxed);
    if (a.ticket)
      a.ticket->done(a.events);
    else
      a.rp.deliver(a.events);
    answered(st, a.shard);
  }
  return true;
}

// Adds one batch's writes to the open group; commits it when due, else makes sure a commit
// is on its way.
void add(self_ptr self, std::vector<event> index_writes, std::vector<event> history,
         storage_state::ack a) {
  auto& st = self->state;
  if (st.ctx.hub->subscribers() > 0)
    st.to_publish.insert(st.to_publish.end(), index_writes.begin(), index_writes.end());
  auto now = std::chrono::steady_clock::now();
  auto full = st.group.add(std::move(index_writes), std::move(history), std::move(a), now);
  // Due by age too: a scheduled commit may still be queued behind a long mailbox.
  if (full || st.group.due(now)) {
    commit(self);
  } else if (!st.commit_scheduled) {
    st.commit_scheduled = true;
    // Behind every message already waiting, so those writes join this group.
    if (st.ctx.settings.delay.count() == 0)
      self->send(self, commit_atom::value, st.group.generation());
    else
      self->delayed_send(self, st.ctx.settings.delay, commit_atom::value, st.group.generation());
  }
}

}  // namespace

std::optional<error> write_group(const storage_context& ctx, std::vector<keyed_event>& index,
                                 std::vector<event>& history, std::vector<event>& to_publish) {
  std::optional<error> failed;
  auto started = std::chrono::steady_clock::now();
  if (!index.empty())
    if (auto written = ctx.db->apply_latest(index); !written)
      failed = written.error();
  if (!failed && !history.empty())
    if (auto stored = ctx.db->append_history(history); !stored)
      failed = stored.error();
  if (!index.empty() || !history.empty())
    ctx.write_latency->observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (!failed)
    for (auto& e : to_publish)
      ctx.hub->publish("index", e);
  to_publish.clear();
  return failed;
}

storage_actor::behavior_type storage(self_ptr self, storage_context ctx) {
  auto settings = ctx.settings;
  self->state.ctx = std::move(ctx);
  // Without a delay the self-sent commit message closes the group; age never does.
  auto max_age = settings.delay.count() > 0 ? settings.delay
                                            : std::chrono::microseconds{std::chrono::hours{24}};
  self->state.group = commit_group<storage_state::ack>{{settings.max_events, max_age}};
  return {
      [=](write_atom, int32_t shard, std::vector<event>& index_writes, std::vector<event>& history,
          uint64_t events) -> caf::result<uint64_t> {
        auto& st = self->state;
        // Nothing to write and nothing earlier pending: the WAL rule holds already.
        if (index_writes.empty() && history.empty() && st.group.empty()) {
          answered(st, shard);
          return events;
        }
        storage_state::ack a{self->make_response_promise<uint64_t>(),
                             nullptr,
                             events,
                             shard,
                             index_writes.size(),
                             history.size()};
        auto rp = a.rp;
        add(self, std::move(index_writes), std::move(history), std::move(a));
        return rp;
      },
      [=](write_atom, int32_t shard, std::vector<event>& index_writes, std::vector<event>& history,
          uint64_t events, ingest_ticket& ticket) {
        auto& st = self->state;
        if (index_writes.empty() && history.empty() && st.group.empty()) {
          answered(st, shard);
          ticket->done(events);
          return;
        }
        storage_state::ack a{{},    std::move(ticket),   events,
                             shard, index_writes.size(), history.size()};
        add(self, std::move(index_writes), std::move(history), std::move(a));
      },
      [=](commit_atom, uint64_t generation) {
        // A group committed early (by size) leaves its scheduled commit behind.
        if (generation == self->state.group.generation())
          commit(self);
      },
      [=](flush_atom) -> bool { return commit(self); },
  };
}

}  // namespace dmon
