// The reaper actor: expires index entries and re-injects them into their owners' streams.
#pragma once

#include <chrono>

#include "index.hpp"
#include "interfaces.hpp"

namespace dmon {

struct reaper_state {
  // Not an aggregate: CAF would construct an aggregate state from the actor pointer.
  reaper_state() = default;

  uint64_t expired = 0;
  static inline const char* name = "dmon.reaper";
};

/// Every `interval`, removes entries with `now - time > ttl` and sends
/// {host, service, state "expired", time now} through the router, as Riemann's
/// periodically-expire does with its default keep-keys.
reaper_actor::behavior_type reaper(reaper_actor::stateful_pointer<reaper_state> self, index* idx,
                                   router_actor router, std::chrono::milliseconds interval);

}  // namespace dmon
