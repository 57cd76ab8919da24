// dmon::index: the latest event of every (host, service), with Riemann's insert and expiry rules.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "event.hpp"

namespace dmon {

/// The key of an index entry; either part may be absent (Riemann's nil).
struct index_key {
  std::optional<std::string> host;
  std::optional<std::string> service;

  static index_key of(const event& e) { return {e.host, e.service}; }
  /// A flat byte string unique per key ("\1host\0" or "\0\0" per part), for hashing and storage.
  std::string encode() const;
  friend bool operator==(const index_key&, const index_key&) = default;
};

/// In-memory index: latest event per key. Thread-safe; written by stream actors,
/// read by queries. Each entry gets `default_ttl` when the event carries no ttl.
class index {
 public:
  explicit index(double default_ttl_seconds = 60) : default_ttl_(default_ttl_seconds) {}

  /// Inserts `e` as the latest event of its key; state "expired" deletes the key instead.
  /// Returns the event as stored (ttl filled in), or nullopt when the key was deleted.
  std::optional<event> insert(event e);

  /// Removes a key; returns whether it was present.
  bool remove(const index_key& key);

  /// Returns the entry for a key.
  std::optional<event> lookup(const index_key& key) const;

  /// Returns every entry for which `pred` holds.
  std::vector<event> select(const std::function<bool(const event&)>& pred) const;

  /// Removes and returns every entry whose `now - time > ttl` (strictly greater).
  std::vector<event> expire(int64_t now_us);

  size_t size() const;

 private:
  double default_ttl_;
  mutable std::shared_mutex mtx_;
  std::unordered_map<std::string, event> entries_;
};

}  // namespace dmon
