// The router actor: delivers each event to the node, then the shard, that owns its key.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster_link.hpp"
#include "forward_outbox.hpp"
#include "interfaces.hpp"
#include "ownership.hpp"
#include "ring.hpp"

namespace dmon {

/// The router's counters are the cluster's (forwarded batches among them).
using router_counters = cluster_counters;

/// The replies of every owner involved in one ingest (defined in router_actor.cpp).
struct fan_in;

/// Forwards to one peer open at a time; while one is, events for it coalesce up to this many.
constexpr size_t forward_in_flight = 1;
constexpr size_t forward_batch_events = 8192;

struct router_state {
  // Not an aggregate: CAF would construct an aggregate state from the actor pointer.
  router_state() = default;

  ownership owners{1};
  std::vector<stream_actor> shards;
  /// Live members that are not leaving (the owners); empty means everything is local.
  ring members;
  std::string self_id;
  /// The other members' keepers (their peer-facing actors).
  std::map<std::string, keeper_actor> peers;
  cluster_link* link = nullptr;
  /// Events waiting to be forwarded, per owner node (a forward to it is open).
  forward_outbox<std::shared_ptr<fan_in>> forwards{forward_in_flight, forward_batch_events};
  /// Forwards sent and not yet answered, by id: their owner and how to fail them at once
  /// when the owner leaves the view (a silent peer would otherwise hold them, and the
  /// clients' acks, for the whole forward timeout).
  struct open_forward {
    std::string owner;
    std::function<void(const std::string&)> fail;
    std::function<void()> done;
    std::chrono::steady_clock::time_point deadline;
  };
  std::map<uint64_t, open_forward> open_forwards;
  uint64_t next_forward_id = 0;
  /// Bytes of the last forward's encoding: the next one reserves about as much.
  size_t encoded_hint = 0;
  static inline const char* name = "dmon.router";
};

/// Splits batches by owner, keeping each key's events in arrival order: keys this
/// node owns go to their shard, others to the owning node (its keeper, which hands
/// them to its router) as one encoded batch, coalesced with other ingests' events for
/// that node while a forward to it is open (forward_outbox). Replies once every owner has run its
/// share through the streams and, in a cluster, once the keeper sent the writes that
/// made to their replicas and owners, so a client's ack means the same on one node and
/// on many. On a membership change it publishes the new view and asks the keeper to
/// rebalance.
router_actor::behavior_type router(router_actor::stateful_pointer<router_state> self,
                                   std::vector<stream_actor> shards, cluster_link* link);

}  // namespace dmon
