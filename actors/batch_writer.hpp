// dmon::batch_writer: a shard writing its own batch's index and history writes, without the
// storage actor's hop.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "commit_group.hpp"
#include "counters.hpp"
#include "storage_actor.hpp"

namespace dmon {

/// Writes one batch's index and history writes to the store on the calling thread: coalesced
/// to the latest event per key, written through `write_group` (so into the index log before
/// it returns), counted in the shard's counters and published to subscribers. A shard uses it
/// instead of the storage actor when none of its earlier writes still waits there, which
/// saves a thread hop and a wake-up per batch. Plain data; one per shard, used by its thread.
class batch_writer {
 public:
  /// `ctx` and `counters` must outlive the writer.
  batch_writer(const storage_context& ctx, shard_counters& counters)
      : ctx_(&ctx), counters_(&counters) {}

  /// Writes and empties `index` (each write with its key's hash) and `history`, keeping
  /// their capacity; returns why the store refused them (then nothing was written and the
  /// batch must not be acked), or nullopt once they are in the store. The index writes are
  /// coalesced in `index`'s own buffer and moved only once more, into the index.
  std::optional<std::string> write(std::vector<keyed_event>& index, std::vector<event>& history);

 private:
  const storage_context* ctx_;
  shard_counters* counters_;
  commit_group<char> group_{{}};
  std::vector<event> to_publish_;
};

}  // namespace dmon
