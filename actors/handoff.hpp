// dmon::plan_handoff: what a node sends, keeps, promotes and drops when the ring changes.
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "cluster_view.hpp"
#include "event.hpp"

namespace dmon {

/// The moves one node makes when its view goes from `prev` to `next`.
struct handoff_plan {
  /// Index entries this node no longer owns, by their new owner. They leave the
  /// index once that owner acknowledged them.
  std::map<std::string, std::vector<event>> to_owner;
  /// Of those, the ones this node then keeps as a replica (it is one in `next`).
  std::vector<event> keep_as_replica;
  /// Entries this node owns in `next` (kept or promoted) whose replica set gained
  /// members, by member: the copies those members do not have yet.
  std::map<std::string, std::vector<event>> to_replica;
  /// Replica entries this node owns in `next`: they move into its index.
  std::vector<event> promote;
  /// Replica entries this node neither owns nor replicates in `next`.
  std::vector<event> drop_replica;

  bool empty() const {
    return to_owner.empty() && to_replica.empty() && promote.empty() && drop_replica.empty();
  }
};

/// Plans the handoff for one node from its index entries and its replica entries.
/// Both views must name the same self. With `prev == next` it only repairs: entries
/// held but not owned go to their owners, promoted and dropped replicas as above.
handoff_plan plan_handoff(const cluster_view& prev, const cluster_view& next,
                          std::span<const event> index_entries,
                          std::span<const event> replica_entries);

/// Where a leaving node sends entries it holds: to each key's owner among the members
/// that are not leaving. This node counts as leaving whether or not `view` says so yet.
struct leave_plan {
  /// Entries by the staying member that now owns their key.
  std::map<std::string, std::vector<event>> to_owner;
  /// Entries with no staying member to go to (every known member is leaving).
  std::vector<event> nowhere;
};

/// Plans a leaving node's handoff (its own entries, or ones it received while leaving
/// and passes on). Never targets this node or a member `view` knows to be leaving.
leave_plan plan_leave(const cluster_view& view, std::vector<event> entries);

}  // namespace dmon
