// dmon::plan_handoff: what a node sends, keeps, promotes and drops when the ring changes.
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "cluster_view.hpp"
#include "event.hpp"
#include "key_state.hpp"

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

/// Per-key stream state (stream_host::export_keys slices) by the member it goes to.
using state_moves = std::map<std::string, std::vector<key_state>>;

/// The stream state a node hands off when its view goes from `prev` to `next`: the slices of
/// keys it owned in `prev` and does not own in `next`, to their new owner. Keys it did not
/// own in `prev` are never sent: what its streams hold for them is stale (a key that moved
/// away earlier), and would overwrite the owner's newer state.
state_moves plan_state_handoff(const cluster_view& prev, const cluster_view& next,
                               std::vector<key_state> slices);

/// A leaving node's stream state: the slices of keys it owned in `before` (its last view
/// before the leave), to each key's owner among the members of `view` that are not leaving.
state_moves plan_state_leave(const cluster_view& before, const cluster_view& view,
                             std::vector<key_state> slices);

/// The owner's copies for replicas: every slice of a key this node owns in `view`, to each
/// of the key's replicas.
state_moves plan_state_replicas(const cluster_view& view, std::span<const key_state> slices);

/// What becomes of the replica slices a node holds when its view changes to `next`.
struct state_replica_plan {
  /// Keys it owns now: imported into its streams (the crashed or leaving owner's state).
  std::vector<key_state> promote;
  /// Keys it neither owns nor replicates now.
  std::vector<key_state> drop;
};
state_replica_plan plan_state_promotion(const cluster_view& next, std::span<const key_state> held);

}  // namespace dmon
