// dmon::ingest_split: one ingested batch split by owner, local shards and other nodes, in key
// order.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "cluster_view.hpp"
#include "event.hpp"

namespace dmon {

/// Where the events of one batch go under one cluster view: the ones this node owns to their
/// shard (key hash mod shards, as on a node alone), the others to their owner node. Every
/// event is hashed once. Within each part events keep their batch order, so one key's events
/// stay in order (a key has one owner and one shard under a view). A plain value.
struct ingest_split {
  /// Events this node owns, one part per shard (parts may be empty).
  std::vector<std::vector<event>> local;
  /// Events other nodes own, one part per owner node id, in order of first appearance.
  std::vector<std::pair<std::string, std::vector<event>>> remote;

  /// Splits `events` (moved from). A view that is not clustered, or in which every member is
  /// leaving, owns every key (cluster_view::owns).
  static ingest_split of(std::vector<event>&& events, const cluster_view& view, size_t shards);

  /// Local parts that are not empty.
  size_t local_parts() const;
};

}  // namespace dmon
