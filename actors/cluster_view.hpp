// dmon::cluster_view: one node's view of the ring (who owns a key, who holds its replicas).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ring.hpp"

namespace dmon {

/// The live members as this node sees them, plus which of them it is and how many
/// copies each index entry has. A plain value: replaced whole on every membership
/// change. A default-constructed view is a node alone: it owns every key.
class cluster_view {
 public:
  cluster_view() = default;

  /// `members` must contain `self` unless it is empty; `replication` counts the owner
  /// (1: no replicas).
  cluster_view(ring members, std::string self, size_t replication);

  /// True when there is more than one member: keys may be owned elsewhere.
  bool clustered() const { return members_.size() > 1; }

  /// Whether this node owns the key (always, when alone).
  bool owns(uint64_t key_hash) const;

  /// The owner's node id; this node's id when alone.
  const std::string& owner(uint64_t key_hash) const;

  /// The members holding replicas of the key, in rendezvous order (the first takes
  /// over when the owner leaves); empty when alone or with replication 1.
  std::vector<std::string> replicas(uint64_t key_hash) const;

  /// Whether this node is one of the key's replicas.
  bool holds_replica(uint64_t key_hash) const;

  /// The same members without `node_id` (the view after a planned leave).
  cluster_view without(const std::string& node_id) const;

  const ring& members() const { return members_; }
  const std::string& self() const { return self_; }
  size_t replication() const { return replication_; }

 private:
  ring members_;
  std::string self_;
  size_t replication_ = 1;
};

}  // namespace dmon
