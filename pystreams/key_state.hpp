// dmon::key_state: the stream state of one event key, the unit that moves with the key in a
// cluster.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace dmon {

/// What a shard's streams hold for one key (absent parts stay absent): a dmon.state
/// snapshot with only that key's forks and entries (dmon.state.split_keys), in the same JSON
/// shape on the Python and the native path. A key is a list of values hashed in order: most
/// have two, `(host, service)` (or a regroup key of two fields, which hashes the same way),
/// held in `host` and `service`; a regroup key of another number of fields (a
/// `regroup(["service"])`'s forks) is held in `values` instead.
struct key_state {
  std::optional<std::string> host;
  std::optional<std::string> service;
  std::string json;
  /// Set for a key of other than two values; then host and service are unset.
  std::optional<std::vector<std::optional<std::string>>> values = std::nullopt;

  bool operator==(const key_state&) const = default;
};

}  // namespace dmon
