// dmon::ownership: which shard owns an event's (host, service); a pure function of the key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

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

  /// The same hash over any list of key parts, fed one at a time (null: absent, which
  /// differs from empty): `key_hash(e)` hashes host then service; regroup() hashes its fields.
  class hasher {
   public:
    void add(const std::string* part);
    uint64_t finish() const;

   private:
    uint64_t h_ = 1469598103934665603ull;  // FNV-1a's offset basis
  };

 private:
  size_t shards_;
};

}  // namespace dmon
