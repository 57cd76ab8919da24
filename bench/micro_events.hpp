// Sample events shared by the micro-benchmarks: the shape dmon-load sends (host, service, state,
// time, ttl, metric).
#pragma once

#include <string>
#include <vector>

#include "event.hpp"

namespace dmon::bench {

/// Returns `n` events with distinct keys, like one dmon-load message.
inline std::vector<event> sample_events(size_t n) {
  std::vector<event> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    event e;
    e.host = "host-" + std::to_string(i / 10);
    e.service = "svc-" + std::to_string(i % 10);
    e.state = "ok";
    e.time_us = 1'700'000'000'000'000 + static_cast<int64_t>(i);
    e.ttl = 60;
    e.metric = 0.5 + static_cast<double>(i);
    out.push_back(std::move(e));
  }
  return out;
}

/// Key `k` of dmon-load's default traffic (100 hosts x 100 services, in its order): host-(k/100),
/// svc-(k%100).
inline event load_event(size_t k, int64_t time_us) {
  event e;
  e.host = "host-" + std::to_string(k / 100);
  e.service = "svc-" + std::to_string(k % 100);
  e.state = "ok";
  e.time_us = time_us;
  e.ttl = 60;
  e.metric = 0.5 + static_cast<double>(k);
  return e;
}

}  // namespace dmon::bench
