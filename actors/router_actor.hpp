// The router actor: delivers each event to the shard that owns its key.
#pragma once

#include <vector>

#include "interfaces.hpp"
#include "ownership.hpp"

namespace dmon {

struct router_state {
  // Not an aggregate: CAF would construct an aggregate state from the actor pointer.
  router_state() = default;

  ownership owners{1};
  std::vector<stream_actor> shards;
  static inline const char* name = "dmon.router";
};

/// Splits batches by owner, keeping each key's events in arrival order, and
/// replies once every shard involved has run its share through the streams.
router_actor::behavior_type router(router_actor::stateful_pointer<router_state> self,
                                   std::vector<stream_actor> shards);

}  // namespace dmon
