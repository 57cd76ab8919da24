// dmon::commit_group: index and history writes of many stream batches, coalesced into one store
// write.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "event.hpp"
#include "index.hpp"
#include "key_table.hpp"
#include "store.hpp"

namespace dmon {

/// Collects the writes of stream batches until the group is committed as one
/// store write, and the acknowledgements (`Ack`, e.g. a response promise) that
/// must wait for it. Index writes are coalesced to the latest event per key, as
/// if they had been applied one by one, so a hot key costs one write per group
/// however often it changed; history is kept whole, in order. A group is due
/// when it holds `max_events` writes (before coalescing) or when `max_delay`
/// has passed since its first write. Plain data: the storage actor owns one and
/// decides when to commit it; tests drive it without an actor system.
template <class Ack>
class commit_group {
 public:
  using clock = std::chrono::steady_clock;

  struct limits {
    /// Writes (index + history, before coalescing) that make the group due.
    size_t max_events = 20000;
    /// Age of the group's first write that makes it due.
    std::chrono::microseconds max_delay{2000};
  };

  /// What a commit writes, and whom it answers afterwards.
  struct contents {
    /// The latest event per key with its key's hash (for `store::apply_latest`), in the
    /// order each key first appeared.
    std::vector<keyed_event> index;
    /// Every history event, in arrival order.
    std::vector<event> history;
    /// In arrival order.
    std::vector<Ack> acks;
    /// Index writes before coalescing.
    size_t index_writes = 0;
  };

  explicit commit_group(limits l) : limits_(l) {}

  /// Adds one batch's writes and the ack that waits for them (an ack with no
  /// writes still waits for the writes added before it). Returns whether the
  /// group is now due by size.
  bool add(std::vector<event> index_writes, std::vector<event> history, Ack ack,
           clock::time_point now) {
    if (writes_ == 0 && acks_.empty())
      opened_ = now;
    writes_ += index_writes.size() + history.size();
    index_writes_ += index_writes.size();
    // Room for as many keys as the last group had: groups are alike under steady load, and
    // growing by doubling would move every event held so far, again and again.
    if (index_.empty())
      index_.reserve(std::max(last_keys_, index_writes.size()));
    for (auto& e : index_writes) {
      auto hash = index_key::hash(e);
      auto [at, added] = positions_.find_or_add(
          hash, [&](uint32_t p) { return same_key(index_[p].e, e); },
          [&] { return static_cast<uint32_t>(index_.size()); });
      // Constructed in place: a braced temporary would move the event twice.
      if (added)
        index_.emplace_back(hash, std::move(e));
      else
        index_[at].e = std::move(e);
    }
    add_history(std::move(history));
    acks_.push_back(std::move(ack));
    return writes_ >= limits_.max_events;
  }

  /// As add(), for index writes that carry their key hashes already (a shard's sink computed
  /// them): `index_writes` is taken over and left empty. Into a group without index writes
  /// its buffer is taken whole and coalesced in place, so no event is moved again (the
  /// caller gets the group's empty buffer back).
  bool add(std::vector<keyed_event>& index_writes, std::vector<event> history, Ack ack,
           clock::time_point now) {
    if (writes_ == 0 && acks_.empty())
      opened_ = now;
    writes_ += index_writes.size() + history.size();
    index_writes_ += index_writes.size();
    if (index_.empty()) {
      index_.swap(index_writes);
      index_writes.clear();
      size_t kept = 0;
      for (size_t j = 0; j < index_.size(); ++j) {
        auto& w = index_[j];
        auto [at, added] = positions_.find_or_add(
            w.hash, [&](uint32_t p) { return same_key(index_[p].e, w.e); },
            [&] { return static_cast<uint32_t>(kept); });
        if (!added) {
          index_[at].e = std::move(w.e);
          continue;
        }
        if (kept != j)
          index_[kept] = std::move(w);
        ++kept;
      }
      index_.erase(index_.begin() + static_cast<std::ptrdiff_t>(kept), index_.end());
    } else {
      for (auto& w : index_writes) {
        auto [at, added] = positions_.find_or_add(
            w.hash, [&](uint32_t p) { return same_key(index_[p].e, w.e); },
            [&] { return static_cast<uint32_t>(index_.size()); });
        if (added)
          index_.push_back(std::move(w));
        else
          index_[at].e = std::move(w.e);
      }
      index_writes.clear();
    }
    add_history(std::move(history));
    acks_.push_back(std::move(ack));
    return writes_ >= limits_.max_events;
  }

  /// Nothing to write and nobody waiting.
  bool empty() const { return acks_.empty(); }

  /// Writes added since the last take, before coalescing.
  size_t writes() const { return writes_; }

  /// Distinct index keys held.
  size_t keys() const { return index_.size(); }

  /// Whether the group should be committed now: by size, or by the age of its first write.
  bool due(clock::time_point now) const {
    if (empty())
      return false;
    return writes_ >= limits_.max_events || now - opened_ >= limits_.max_delay;
  }

  /// When the first write of the group arrived.
  clock::time_point opened() const { return opened_; }

  /// Counts takes, so a commit scheduled for an earlier group can tell it is stale.
  uint64_t generation() const { return generation_; }

  /// Empties the group and returns what to write and whom to answer.
  contents take() {
    last_keys_ = index_.size();
    contents out{std::move(index_), std::move(history_), std::move(acks_), index_writes_};
    index_.clear();
    history_.clear();
    acks_.clear();
    positions_.clear();
    writes_ = 0;
    index_writes_ = 0;
    ++generation_;
    return out;
  }

 private:
  static bool same_key(const event& a, const event& b) {
    return a.host == b.host && a.service == b.service;
  }
  void add_history(std::vector<event> history) {
    if (history_.empty())
      history_ = std::move(history);
    else
      for (auto& e : history)
        history_.push_back(std::move(e));
  }

  limits limits_;
  std::vector<keyed_event> index_;
  /// Key hash -> position in `index_`; keys are compared through the events there.
  key_table<uint32_t> positions_;
  std::vector<event> history_;
  std::vector<Ack> acks_;
  size_t writes_ = 0;
  size_t index_writes_ = 0;
  size_t last_keys_ = 0;
  clock::time_point opened_{};
  uint64_t generation_ = 0;
};

}  // namespace dmon
