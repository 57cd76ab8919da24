// dmon::write_outbox: index writes waiting to go to replicas or to their owner node (bounded).
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

#include "event.hpp"

namespace dmon {

/// Filled by the streams' index sink on the shards' threads (and by the reaper),
/// emptied by the keeper actor, which sends the contents on. Bounded: past
/// `capacity` events a push is refused and counted, so a slow or absent peer can
/// never grow memory without limit (it shows as replication failures instead).
class write_outbox {
 public:
  struct contents {
    /// Writes this node owns and applied: copies go to the keys' replicas.
    std::vector<event> replicate;
    /// Writes for keys another node owns (a stream output keyed differently from
    /// its input): they go to that owner, which applies and replicates them.
    std::vector<event> foreign;
    bool empty() const { return replicate.empty() && foreign.empty(); }
  };

  explicit write_outbox(size_t capacity) : capacity_(capacity) {}

  /// Queues a copy for the key's replicas; false (and counted) when full.
  bool push_replicate(event e) { return push(std::move(e), &contents::replicate); }

  /// Queues a write for the key's owner; false (and counted) when full.
  bool push_foreign(event e) { return push(std::move(e), &contents::foreign); }

  /// Takes everything queued, in push order per list. A non-empty take stays unsettled
  /// (idle() is false) until the taker calls settled() for it, once its sends finished.
  contents take() {
    std::lock_guard lock{mtx_};
    contents out;
    std::swap(out, pending_);
    if (size_ > 0)
      ++unsettled_;
    size_ = 0;
    return out;
  }

  /// One non-empty take was sent on (answered or failed).
  void settled() {
    std::lock_guard lock{mtx_};
    if (unsettled_ > 0)
      --unsettled_;
  }

  bool empty() const {
    std::lock_guard lock{mtx_};
    return size_ == 0;
  }

  /// Nothing queued and nothing taken still on its way: an ingest whose writes were all
  /// pushed before this call need not wait for the keeper (the common case with
  /// replication 1, where only writes for another owner's key are queued).
  bool idle() const {
    std::lock_guard lock{mtx_};
    return size_ == 0 && unsettled_ == 0;
  }

  /// Events refused because the outbox was full.
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  bool push(event e, std::vector<event> contents::*list) {
    std::lock_guard lock{mtx_};
    if (size_ >= capacity_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    (pending_.*list).push_back(std::move(e));
    ++size_;
    return true;
  }

  size_t capacity_;
  mutable std::mutex mtx_;
  contents pending_;
  size_t size_ = 0;
  size_t unsettled_ = 0;
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace dmon
