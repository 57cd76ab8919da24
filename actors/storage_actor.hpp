// The storage actor: the node's one index/history writer, committing shards' writes in groups.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include <caf/typed_response_promise.hpp>

#include "commit_group.hpp"
#include "counters.hpp"
#include "interfaces.hpp"
#include "metrics.hpp"
#include "pubsub.hpp"
#include "store.hpp"

namespace dmon {

/// How the storage actor groups writes.
struct commit_settings {
  /// A group is committed once it holds this many writes (before coalescing).
  size_t max_events = 20000;
  /// How long a group stays open for more writes after its first. Zero: commit as soon as
  /// every write already waiting in the mailbox is in the group, so groups grow only while
  /// the previous commit runs (lowest latency; under load the groups still get large).
  std::chrono::microseconds delay{0};
};

/// Everything the storage actor works with; owned by the node, outliving the actor.
struct storage_context {
  store* db = nullptr;
  /// Index writes are published on its "index" channel once committed.
  pubsub* hub = nullptr;
  /// Per-commit store write time.
  latency_histogram* write_latency = nullptr;
  /// Indexed by shard.
  std::vector<shard_counters*> counters;
  /// Indexed by shard: the shard's count of unanswered write messages, counted down here
  /// after each answer (see shard_writes::unanswered). Entries may be null.
  std::vector<std::atomic<uint64_t>*> unanswered;
  commit_settings settings;
};

struct storage_state {
  // Not an aggregate: CAF would construct an aggregate state from the actor pointer.
  storage_state() = default;

  /// One batch waiting for the group's commit: answered through `ticket` when it has one,
  /// else through `rp`.
  struct ack {
    caf::typed_response_promise<uint64_t> rp;
    ingest_ticket ticket;
    uint64_t events = 0;
    int32_t shard = 0;
    size_t index_writes = 0;
    size_t history_writes = 0;
  };

  storage_context ctx;
  commit_group<ack> group{{}};
  /// Every index write of the open group, uncoalesced, kept only while someone subscribes.
  std::vector<event> to_publish;
  /// A commit message for the open group is on its way.
  bool commit_scheduled = false;
  static inline const char* name = "dmon.storage";
};

/// Writes one group's coalesced index changes and history to `ctx.db`, observes the write time
/// and, when someone subscribes, publishes `to_publish` on the "index" channel after success.
/// Returns the store's error when the write failed (then nothing was written). Shared by the
/// storage actor and by shards that write their own batches (`shard_context::write_inline`).
std::optional<error> write_group(const storage_context& ctx, std::vector<keyed_event>& index,
                                 std::vector<event>& history, std::vector<event>& to_publish);

/// Answers each shard's write once it is in the WAL. Writes arriving while a commit runs
/// wait in the mailbox and form the next group, so the stream actors keep processing while
/// RocksDB writes, and a key's writes reach the store in the order its shard sent them.
/// A failed commit fails exactly the writes of its group, with the store's reason. Spawn it
/// `caf::detached`: it blocks in RocksDB.
storage_actor::behavior_type storage(storage_actor::stateful_pointer<storage_state> self,
                                     storage_context ctx);

}  // namespace dmon
