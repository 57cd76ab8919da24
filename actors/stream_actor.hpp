// The stream actor: one shard, owning a stream_host (the user's module) on its own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "batch_writer.hpp"
#include "counters.hpp"
#include "interfaces.hpp"
#include "metrics.hpp"
#include "pubsub.hpp"
#include "store.hpp"
#include "stream_host.hpp"

namespace dmon {

/// What a shard's streams wrote while handling one message. The stream_host's sinks
/// append here; the actor hands it to the storage actor, which answers the batch once it is
/// in the write-ahead log, so an ack always follows the WAL.
struct shard_writes {
  /// Index writes with their key hashes, computed once by the index sink (the commit group
  /// and the index use them); a batch the shard writes itself (batch_writer) moves each event
  /// only once more, into the index.
  std::vector<keyed_event> index;
  std::vector<event> history;
  /// Write messages this shard sent to the storage actor that it has not answered yet (the
  /// storage actor counts them down after answering). At zero, every earlier write of the
  /// shard is in the WAL, so a batch that wrote nothing can be answered without the hop.
  std::atomic<uint64_t> unanswered{0};
  /// Events regroup() streams sent towards their new keys' owners (regroup_relay.hpp).
  regrouped_batch regrouped;
};

/// Everything one stream actor works with; owned by the node, outliving the actor.
struct shard_context {
  int shard = 0;
  /// For the stream-state checkpoints; index and history writes go through `storage`.
  store* db = nullptr;
  storage_actor storage;
  shard_counters* counters = nullptr;
  shard_writes* writes = nullptr;
  /// Per-event time in the streams (a batch's time over its size).
  latency_histogram* stream_latency = nullptr;
  /// Key of this shard's stream-state checkpoint in the store.
  std::string checkpoint_key;
  std::chrono::milliseconds tick{1000};
  /// Checked on ticks; zero: checkpoint only when asked (on shutdown).
  std::chrono::milliseconds checkpoint_every{0};
  /// When set, the shard writes its own batches' index and history writes to the store
  /// (through `write_group`) whenever none of its writes is still queued at the storage
  /// actor, and answers the batch itself: one thread hop and wake-up less per batch, at the
  /// price of the write running on the shard's thread instead of beside its next batch.
  const storage_context* write_inline = nullptr;
  /// Where regrouped events go; filled in once the router exists (it is spawned after us).
  std::shared_ptr<router_actor> router;
};

struct stream_state {
  // Not an aggregate: CAF would construct an aggregate state from the actor pointer.
  stream_state() = default;

  std::unique_ptr<stream_host> host;
  shard_context ctx;
  std::chrono::steady_clock::time_point next_checkpoint;
  /// Writes the shard's batches itself when `ctx.write_inline` is set.
  std::optional<batch_writer> writer;
  static inline const char* name = "dmon.stream";
};

/// Runs batches through `host`, writes what the streams indexed and stored itself
/// (`ctx.write_inline`) or hands it to the storage actor (which answers the batch after the
/// index-log write, so the next batch runs meanwhile), answers the batch once its writes are
/// in the index log, ticks the streams every `ctx.tick`, and checkpoints their state. Spawn
/// it `caf::detached`: it blocks on the GIL and in the store, which must not stall CAF's
/// workers.
stream_actor::behavior_type stream(stream_actor::stateful_pointer<stream_state> self,
                                   std::unique_ptr<stream_host> host, shard_context ctx);

/// The events of `index` (a shard's index writes) for a write message to the storage actor,
/// which hashes their keys itself; `index` is left empty, with its capacity.
std::vector<event> index_events(std::vector<keyed_event>& index);

/// The checkpoint key of `shard` among `shards`; a different shard count finds no
/// checkpoint (keys would have moved between shards).
std::string checkpoint_key(int shard, int shards);

}  // namespace dmon
