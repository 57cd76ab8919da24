// dmon::ingest_targets: where a listener's events go, the local shards directly while the node is
// alone.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "interfaces.hpp"
#include "ownership.hpp"

namespace dmon {

class cluster_link;

/// A listener's ways to the streams: the router (a cluster decides owners there, as for every
/// other source) and the local shards, which a node alone may feed directly, skipping the
/// router's hop and its reply.
struct ingest_targets {
  router_actor router;
  std::vector<stream_actor> shards;
  /// Null: never clustered.
  const cluster_link* link = nullptr;

  /// Whether events may go straight to the shards now: the node is alone.
  bool direct() const;

  /// Splits `events` by key over the shards (the router's split: the same key, the same
  /// shard, in order) and sends each non-empty part with one ticket made by
  /// `make_ticket(parts)`. `events` must not be empty; call only when direct().
  void send_direct(std::vector<event> events,
                   const std::function<ingest_ticket(size_t parts)>& make_ticket) const;
};

}  // namespace dmon
