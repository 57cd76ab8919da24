// Reaper actor: the periodic expiry sweep.
#include "reaper_actor.hpp"

#include <caf/all.hpp>

namespace dmon {

reaper_actor::behavior_type reaper(reaper_actor::stateful_pointer<reaper_state> self, index* idx,
                                   router_actor router, std::chrono::milliseconds interval) {
  self->delayed_send(self, interval, reap_atom::value);
  return {
      [=](reap_atom) {
        auto now = now_micros();
        auto gone = idx->expire(now);
        if (!gone.empty()) {
          std::vector<event> notices;
          notices.reserve(gone.size());
          for (auto& e : gone) {
            event n;
            n.host = std::move(e.host);
            n.service = std::move(e.service);
            n.state = "expired";
            n.time_us = now;
            notices.push_back(std::move(n));
          }
          self->state.expired += notices.size();
          caf::anon_send(router, ingest_atom::value, std::move(notices));
        }
        self->delayed_send(self, interval, reap_atom::value);
      },
  };
}

}  // namespace dmon
