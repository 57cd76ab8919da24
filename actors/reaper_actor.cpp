// Reaper actor: the periodic expiry sweep and history retention.
#include "reaper_actor.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include "ownership.hpp"

namespace dmon {

keep_keys::keep_keys(const std::string& spec) {
  if (spec == "all") {
    all_ = true;
    return;
  }
  size_t start = 0;
  while (start <= spec.size()) {
    auto comma = spec.find(',', start);
    auto name = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (!name.empty())
      fields_.push_back(name);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
}

event keep_keys::notice(const event& expired, int64_t now_us) const {
  event n;
  if (all_) {
    n = expired;
  } else {
    for (auto& f : fields_) {
      if (f == "host")
        n.host = expired.host;
      else if (f == "service")
        n.service = expired.service;
      else if (f == "description")
        n.description = expired.description;
      else if (f == "metric")
        n.metric = expired.metric;
      else if (f == "ttl")
        n.ttl = expired.ttl;
      else if (f == "tags")
        n.tags = expired.tags;
      else if (auto* v = expired.find_attribute(f))
        n.attributes.push_back({f, *v});
    }
  }
  n.state = "expired";
  n.time_us = now_us;
  return n;
}

reaper_actor::behavior_type reaper(reaper_actor::stateful_pointer<reaper_state> self, store* db,
                                   pubsub* hub, std::atomic<uint64_t>* expired_total,
                                   router_actor router, std::chrono::milliseconds interval,
                                   keep_keys keep, cluster_link* link) {
  self->delayed_send(self, interval, reap_atom::value);
  return {
      [=](reap_atom) {
        auto now = now_micros();
        auto gone = db->expire(now);
        if (!gone) {
          spdlog::error("reaper: expiry sweep failed, retrying next time: {}",
                        gone.error().message);
        } else if (!gone->empty()) {
          std::vector<event> notices;
          notices.reserve(gone->size());
          auto snap = link ? link->get() : nullptr;
          for (auto& e : *gone) {
            if (snap && snap->view.clustered()) {
              if (!snap->view.owns(ownership::key_hash(e)))
                continue;
              event deleted;
              deleted.host = e.host;
              deleted.service = e.service;
              deleted.state = "expired";
              // The expired entry's time: the keeper keeps this delete as a tombstone, which
              // buries copies written up to then (a returning node's) and no later write.
              deleted.time_us = e.time_us;
              link->outbox.push_replicate(std::move(deleted));
            }
            notices.push_back(keep.notice(e, now));
            hub->publish("index", notices.back());
          }
          if (!notices.empty()) {
            self->state.expired += notices.size();
            expired_total->fetch_add(notices.size(), std::memory_order_relaxed);
            caf::anon_send(router, ingest_atom::value, std::move(notices));
          }
        }
        auto& next = self->state.next_retention;
        if (std::chrono::steady_clock::now() >= next) {
          next = std::chrono::steady_clock::now() + std::chrono::minutes{1};
          if (auto r = db->enforce_retention(now); !r)
            spdlog::error("reaper: history retention failed: {}", r.error().message);
        }
        self->delayed_send(self, interval, reap_atom::value);
      },
  };
}

}  // namespace dmon
