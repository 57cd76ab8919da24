// The reaper actor: expires index entries, re-injects them, and enforces history retention.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "cluster_link.hpp"
#include "interfaces.hpp"
#include "pubsub.hpp"
#include "store.hpp"

namespace dmon {

struct reaper_state {
  // Not an aggregate: CAF would construct an aggregate state from the actor pointer.
  reaper_state() = default;

  uint64_t expired = 0;
  std::chrono::steady_clock::time_point next_retention{};
  static inline const char* name = "dmon.reaper";
};

/// Which fields an "expired" event keeps from the expired entry (Riemann's keep-keys).
class keep_keys {
 public:
  /// `spec`: comma-separated field or attribute names, or "all".
  explicit keep_keys(const std::string& spec);

  /// Returns the notice for an expired entry: the kept fields, state "expired", time `now_us`.
  event notice(const event& expired, int64_t now_us) const;

 private:
  bool all_ = false;
  std::vector<std::string> fields_;
};

/// Every `interval`, removes entries with `now - time > ttl` from the store and sends
/// their notices through the router into the owners' streams, as Riemann's
/// periodically-expire does; once a minute it also enforces history retention.
/// In a cluster (`link` set) notices are sent only for keys this node owns, and their
/// deletion goes to the keys' replicas; entries held for a key owned elsewhere (during a
/// handoff) are removed silently, since their owner expires its own copy.
reaper_actor::behavior_type reaper(reaper_actor::stateful_pointer<reaper_state> self, store* db,
                                   pubsub* hub, std::atomic<uint64_t>* expired_total,
                                   router_actor router, std::chrono::milliseconds interval,
                                   keep_keys keep, cluster_link* link = nullptr);

}  // namespace dmon
