// dmon::key_state: the stream state of one event key, the unit that moves with the key in a
// cluster.
#pragma once

#include <optional>
#include <string>

namespace dmon {

/// What a shard's streams hold for one `(host, service)` (absent parts stay absent): a
/// dmon.state snapshot with only that key's forks and entries (dmon.state.split_keys), in
/// the same JSON shape on the Python and the native path.
struct key_state {
  std::optional<std::string> host;
  std::optional<std::string> service;
  std::string json;

  bool operator==(const key_state&) const = default;
};

}  // namespace dmon
