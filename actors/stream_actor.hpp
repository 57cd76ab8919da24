// The stream actor: one shard, owning a stream_host (the user's module) on its own thread.
#pragma once

#include <chrono>
#include <memory>

#include "counters.hpp"
#include "interfaces.hpp"
#include "stream_host.hpp"

namespace dmon {

struct stream_state {
  // Not an aggregate: CAF would construct an aggregate state from the actor pointer.
  stream_state() = default;

  std::unique_ptr<stream_host> host;
  shard_counters* counters = nullptr;
  static inline const char* name = "dmon.stream";
};

/// Runs batches through `host`, ticks it every `tick`, and publishes its counters.
/// Spawn it `caf::detached`: it blocks on the GIL, which must not stall CAF's workers.
stream_actor::behavior_type stream(stream_actor::stateful_pointer<stream_state> self,
                                   std::unique_ptr<stream_host> host, shard_counters* counters,
                                   std::chrono::milliseconds tick);

}  // namespace dmon
