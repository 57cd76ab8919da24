// The router actor: delivers each event to the node, then the shard, that owns its key.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "interfaces.hpp"
#include "ownership.hpp"
#include "ring.hpp"

namespace dmon {

/// Counts of events crossing nodes, read by the node for stats and /metrics.
struct router_counters {
  std::atomic<uint64_t> forwarded_out{0};
  std::atomic<uint64_t> forwarded_in{0};
  std::atomic<uint64_t> forward_failures{0};
};

struct router_state {
  // Not an aggregate: CAF would construct an aggregate state from the actor pointer.
  router_state() = default;

  ownership owners{1};
  std::vector<stream_actor> shards;
  /// Live members; empty or just this node means everything is local.
  ring members;
  std::string self_id;
  std::map<std::string, router_actor> peers;
  router_counters* counters = nullptr;
  static inline const char* name = "dmon.router";
};

/// Splits batches by owner, keeping each key's events in arrival order: keys this
/// node owns go to their shard, others to the owning node's router as one encoded
/// batch. Replies once every owner has run its share through the streams, so a
/// client's ack means the same on one node and on many.
router_actor::behavior_type router(router_actor::stateful_pointer<router_state> self,
                                   std::vector<stream_actor> shards, router_counters* counters);

}  // namespace dmon
