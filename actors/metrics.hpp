// Prometheus /metrics rendering and dmon's self-instrumentation events, from one counter snapshot.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "counters.hpp"
#include "event.hpp"

namespace dmon {

/// Prometheus labels in the order they are rendered.
using metric_labels = std::vector<std::pair<std::string, std::string>>;

/// A point-in-time copy of one latency_histogram, plus how to name it.
struct histogram_snapshot {
  /// Full Prometheus name without suffixes, e.g. "dmon_stream_batch_latency_seconds".
  std::string name;
  std::string help;
  metric_labels labels;
  /// Upper bounds in seconds, ascending; +Inf is implied.
  std::vector<double> bounds;
  /// Per bucket (not cumulative); one more entry than `bounds` (the +Inf bucket).
  std::vector<uint64_t> counts;
  double sum = 0;
  uint64_t count = 0;
  /// Self-instrumentation service prefix, e.g. "dmon streams latency" (quantiles
  /// 0.5 0.95 0.99 0.999 in milliseconds are appended); empty = /metrics only.
  std::string service;

  /// Returns an upper-bound estimate of quantile `q` in seconds (the bound of
  /// the bucket holding it; the largest finite bound for the +Inf bucket), or
  /// nullopt when empty.
  std::optional<double> quantile(double q) const;
};

/// A latency histogram with fixed buckets and atomic counts: any thread may
/// `observe`, any thread may `snapshot`. Cheap enough for the per-batch path.
class latency_histogram {
 public:
  /// Default buckets: 50 µs to 10 s, roughly ×2.5 apart.
  static constexpr std::array<double, 16> default_bounds{
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   10.0};

  latency_histogram() = default;
  latency_histogram(const latency_histogram&) = delete;
  latency_histogram& operator=(const latency_histogram&) = delete;

  /// Records one observation of `seconds`.
  void observe(double seconds);

  /// Returns a copy of the counts, named for rendering.
  histogram_snapshot snapshot(std::string name, std::string help, metric_labels labels = {},
                              std::string service = {}) const;

 private:
  std::array<std::atomic<uint64_t>, default_bounds.size() + 1> counts_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

/// One listener's counters, copied.
struct listener_snapshot {
  /// e.g. "tcp 127.0.0.1:5555"; the first word is the protocol.
  std::string name;
  uint64_t messages = 0;
  uint64_t bytes = 0;
  uint64_t events_accepted = 0;
  uint64_t messages_rejected = 0;
  uint64_t too_large = 0;
  uint64_t dropped_events = 0;
  uint64_t dropped_datagrams = 0;
  uint64_t connections = 0;
  /// Items waiting in the listener's queue, and its capacity (0 = no queue).
  uint64_t queued = 0;
  uint64_t queue_capacity = 0;
};

/// Returns a copy of `c`; `queue_capacity` is the configured size of its queue.
listener_snapshot snapshot_of(const listener_counters& c, uint64_t queue_capacity = 0);

/// One shard's counters, copied.
struct shard_snapshot {
  int shard = 0;
  uint64_t events_in = 0;
  uint64_t root_exceptions = 0;
  uint64_t child_exceptions = 0;
  uint64_t skipped = 0;
  uint64_t rebuilds = 0;
  uint64_t reinjected = 0;
  uint64_t indexed = 0;
  /// regroup(): events sent to their new key's owner, run here for another shard or node,
  /// and refused because this module has no regroup() at the address they named.
  uint64_t regrouped_out = 0;
  uint64_t regrouped_in = 0;
  uint64_t regroup_unknown = 0;
};

/// Returns a copy of shard `shard`'s counters.
shard_snapshot snapshot_of(int shard, const shard_counters& c);

/// The HTTP server's own figures beyond its ingest listener_counters.
struct http_snapshot {
  /// e.g. "http 127.0.0.1:5556".
  std::string name;
  uint64_t requests = 0;
  uint64_t subscribers = 0;
  uint64_t max_subscribers = 0;
  /// Subscriptions refused because `max_subscribers` were open.
  uint64_t subscribers_refused = 0;
  /// Subscribers dropped because their outgoing queue was full.
  uint64_t subscribers_dropped_slow = 0;
  /// Events written to subscribers.
  uint64_t events_out = 0;
};

/// The process as the kernel sees it.
struct process_snapshot {
  uint64_t resident_bytes = 0;
  double cpu_seconds = 0;
};

/// Returns RSS and user+system CPU time from /proc/self (zeros if unreadable).
process_snapshot read_process();

/// Everything /metrics and the instrumentation events report, taken at one time.
struct metrics_snapshot {
  /// Unix microseconds when taken.
  int64_t time_us = 0;
  std::vector<listener_snapshot> listeners;
  std::vector<shard_snapshot> shards;
  std::optional<uint64_t> index_size;
  /// Index entries expired by the reaper since start.
  std::optional<uint64_t> expired;
  std::optional<http_snapshot> http;
  std::vector<histogram_snapshot> histograms;
  process_snapshot process;
};

/// Renders `s` in the Prometheus text exposition format 0.0.4 (HELP and TYPE
/// lines, `dmon_` names, `_total` counters, units in names, escaped labels).
std::string render_prometheus(const metrics_snapshot& s);

/// How self-instrumentation events are stamped.
struct instrumentation_options {
  /// The `host` of every event; usually the machine's hostname.
  std::string host;
  /// Seconds between snapshots; events get ttl = 2 × interval. Default: 10.
  double interval = 10;
};

/// Returns dmon's self-instrumentation events for `now`: services prefixed
/// `dmon `, tags ["dmon"], state "ok" unless a threshold says otherwise.
/// Rates (per second) are computed against `before` and omitted without it.
/// Example services: "dmon server tcp 127.0.0.1:5555 in rate", "dmon streams
/// rate", "dmon index size", "dmon server udp 127.0.0.1:5555 queue used"
/// (warning > 1/2, critical > 3/4).
std::vector<event> instrumentation_events(const metrics_snapshot& now,
                                          const metrics_snapshot* before,
                                          const instrumentation_options& opts);

}  // namespace dmon
