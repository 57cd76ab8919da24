// dmon::replica_set: the index entries a node keeps for other owners, in memory and in its store.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "index.hpp"
#include "key_state.hpp"
#include "query/query.hpp"
#include "store.hpp"

namespace dmon {

/// Replicas live apart from the node's own index: they are persisted in the store's
/// `replicas` family (`store::write_replicas`, one entry per key) and held in a private
/// in-memory `index` for queries, so they are never expired, served as this node's own, or
/// re-injected, until the node becomes their owner and promotes them. Not
/// thread-safe: one actor (the keeper) owns it.
class replica_set {
 public:
  /// Stream-state slices (stream_host::export_keys) held for other owners, one per key hash.
  static constexpr const char* state_prefix = "cluster/replica-state/";

  replica_set(store* db, double default_ttl);

  /// Reads every replica the store holds (at start).
  status load();

  /// Takes `entries` in order: a newer (or equally new) copy replaces the held one,
  /// an older one is ignored, state "expired" deletes the key. One atomic store write.
  /// Returns the number of keys changed.
  result<size_t> apply(std::span<const event> entries);

  /// Deletes the keys of `entries` (promoted or no longer needed). One atomic write.
  status erase(std::span<const event> entries);

  /// Every held replica.
  std::vector<event> all() const;

  /// The held replicas matching `pred`.
  std::vector<event> select(const query::predicate& pred) const;

  size_t size() const { return mem_->size(); }

  /// Takes the owner's latest stream-state slices: a slice replaces the one held for its key
  /// (one owner sends them in order). One atomic store write.
  status put_states(std::span<const key_state> slices);

  /// Deletes the slices of these keys (imported, or no longer this node's to hold).
  status erase_states(std::span<const key_state> slices);

  /// Every held stream-state slice.
  std::vector<key_state> states() const;

  size_t states_size() const { return states_.size(); }

 private:
  store* db_;
  std::unique_ptr<index> mem_;
  std::map<uint64_t, key_state> states_;
};

}  // namespace dmon
