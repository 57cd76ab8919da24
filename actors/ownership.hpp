// dmon::ownership: which shard owns an event's (host, service); a pure function of the key.
#pragma once

#include <cstddef>
#include <cstdint>

#include "event.hpp"

namespace dmon {

/// Maps keys to shards by a stable hash of `host\0service` (absent parts hash
/// differently from empty ones). The same key always lands on the same shard for a
/// given shard count, so per-key order and per-key stream state hold.
class ownership {
 public:
  explicit ownership(size_t shards) : shards_(shards ? shards : 1) {}

  size_t shards() const { return shards_; }

  /// Returns the shard of the event's key.
  size_t shard_of(const event& e) const;

  /// A 64-bit hash of the key, stable across processes and platforms (FNV-1a then a mixer).
  static uint64_t key_hash(const event& e);

 private:
  size_t shards_;
};

}  // namespace dmon
