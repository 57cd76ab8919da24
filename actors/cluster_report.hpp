// dmon::cluster_report: the cluster's state and counters as /cluster JSON, Prometheus lines and
// events.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "cluster_interfaces.hpp"
#include "cluster_link.hpp"
#include "event.hpp"

namespace dmon {

/// GET /cluster: this node, its members and their state (from the cluster actor's
/// `status`, null when it did not answer), keys owned (index entries), replicas held,
/// events forwarded in/out, handoffs, replication and query counters.
std::string cluster_json(const cluster_link& link, const cluster_status* status,
                         size_t index_entries);

/// The counters as Prometheus text (dmon_cluster_*), appended to /metrics.
std::string cluster_prometheus(const cluster_link& link);

/// `dmon cluster ...` instrumentation events (members, replicas held, and totals of
/// forwarded, replicated and handed-off entries and their failures).
std::vector<event> cluster_events(const cluster_link& link, const std::string& host,
                                  double interval_seconds, int64_t now_us);

}  // namespace dmon
