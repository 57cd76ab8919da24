// dmon::regrouped_event: an event on its way from a regroup() stream to the owner of its new key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "event.hpp"

namespace dmon {

/// What a regroup() stream emits towards the owner of its new key: the stream's address
/// ("<root name>/<dmon.state path>", the same on every node loading the module), the hash of
/// the new key (which picks the node and the shard) and the event.
struct regrouped_event {
  std::string address;
  uint64_t key_hash = 0;
  event e;
};

using regrouped_batch = std::vector<regrouped_event>;

}  // namespace dmon
