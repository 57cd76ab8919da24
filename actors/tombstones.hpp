// dmon::tombstones: the deletes a node remembers, so stale copies of deleted keys stay dead.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "cluster_view.hpp"
#include "store.hpp"

namespace dmon {

/// The rule: a delete made at `deleted_us` buries every copy of its key written at or
/// before that time (the copy the delete removed, and older ones a returning node or the
/// other side of a partition still holds); a write after it lives.
constexpr bool buries(int64_t deleted_us, int64_t written_us) {
  return written_us <= deleted_us;
}

/// A node's tombstones: one per deleted key (the latest delete wins), persisted in the
/// store's state family under `prefix`, so they survive restarts, and forgotten once the
/// delete is older than `horizon`. A delete is an event with state "expired" and a time,
/// which is also how tombstones travel between nodes (replica copies and handoffs).
/// Not thread-safe: one actor (the keeper) owns it.
class tombstones {
 public:
  static constexpr const char* prefix = "cluster/tombstone/";

  tombstones(store* db, std::chrono::microseconds horizon);

  /// Reads the held tombstones (at start), dropping those past the horizon at `now_us`.
  status load(int64_t now_us);

  /// Records the deletes among `entries` (state "expired" with a time; others are
  /// ignored) unless a later delete of the key is held or the delete is past the horizon.
  /// One atomic store write. Returns the number of tombstones added or moved later.
  result<size_t> record(std::span<const event> entries, int64_t now_us);

  /// True when `e` is a live copy (not a delete) that a held tombstone buries. A copy
  /// without a time counts as written at the beginning of time.
  bool buries(const event& e) const;

  /// Removes the buried copies from `entries`; returns how many it removed.
  size_t bury(std::vector<event>& entries) const;

  /// Every held tombstone as its delete event (host, service, state "expired", time).
  std::vector<event> all() const;

  /// Forgets tombstones whose delete is older than the horizon. Returns how many.
  result<size_t> reap(int64_t now_us);

  size_t size() const { return held_.size(); }

  /// True when `e` is a delete that can become a tombstone.
  static bool is_delete(const event& e);

 private:
  store* db_;
  int64_t horizon_us_;
  // index_key encoding -> the latest delete of that key.
  std::unordered_map<std::string, event> held_;
};

/// Where a node sends the tombstones it holds (`held`, as delete events) when its view goes
/// from `prev` to `next`: to each member that is new in `next` (a returning node, the other
/// side of a healed partition, a joining node) and owns or replicates the key there, by
/// member. The members it already shared a view with got them as replica writes.
std::map<std::string, std::vector<event>> plan_tombstones(const cluster_view& prev,
                                                          const cluster_view& next,
                                                          std::span<const event> held);

}  // namespace dmon
