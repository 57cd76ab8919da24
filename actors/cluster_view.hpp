// dmon::cluster_view: one node's view of the ring (who owns a key, who holds its replicas).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ring.hpp"

namespace dmon {

/// The live members as this node sees them, plus which of them it is and how many
/// copies each index entry has. A plain value: replaced whole on every membership
/// change. A default-constructed view is a node alone: it owns every key.
///
/// Members that announced their leave stay in the view (they still hold entries and
/// answer queries until they exit) but never own a key, hold a replica or receive a
/// handoff: owners and replicas are picked over the members that are not leaving.
class cluster_view {
 public:
  cluster_view() = default;

  /// `members` must contain `self` unless it is empty; `replication` counts the owner
  /// (1: no replicas).
  cluster_view(ring members, std::string self, size_t replication);

  /// As above, with `leaving` the live members (perhaps self) that announced their
  /// leave: `members` are then only the ones staying, the owners and targets.
  cluster_view(ring members, std::string self, size_t replication,
               std::vector<std::string> leaving);

  /// True when there is more than one live member, leaving ones included: keys may be
  /// owned or held elsewhere.
  bool clustered() const { return members_.size() + leaving_.size() > 1; }

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

  /// The same view with `node_id` leaving: no longer an owner or target.
  cluster_view with_leaving(const std::string& node_id) const;

  /// Whether `node_id` announced its leave.
  bool is_leaving(std::string_view node_id) const;

  /// The members that are not leaving: owners, replicas and handoff targets.
  const ring& members() const { return members_; }
  /// Live members that announced their leave, sorted.
  const std::vector<std::string>& leaving() const { return leaving_; }
  const std::string& self() const { return self_; }
  size_t replication() const { return replication_; }

 private:
  ring members_;
  std::vector<std::string> leaving_;
  std::string self_;
  size_t replication_ = 1;
};

}  // namespace dmon
