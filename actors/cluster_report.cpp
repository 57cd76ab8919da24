// cluster_report: one list of counters rendered three ways.
#include "cluster_report.hpp"

#include <nlohmann/json.hpp>

namespace dmon {

namespace {

struct counter_row {
  const char* name;  // snake_case: JSON key, Prometheus suffix, event service words
  const char* help;
  const std::atomic<uint64_t>* value;
  bool failure;
};

std::vector<counter_row> rows(const cluster_counters& c) {
  return {
      {"forwarded_out", "Events sent to the node owning their key.", &c.forwarded_out, false},
      {"forwarded_in", "Events received because this node owns their key.", &c.forwarded_in, false},
      {"forward_failures", "Events or index writes the owner node did not take.",
       &c.forward_failures, true},
      {"forward_batches_out", "Batches of events sent to their owner nodes.",
       &c.forward_batches_out, false},
      {"forward_batches_in", "Batches of events received as their owner node.",
       &c.forward_batches_in, false},
      {"index_forwarded_out", "Index writes sent to the node owning their key.",
       &c.index_forwarded_out, false},
      {"index_forwarded_in", "Index writes received as the key's owner.", &c.index_forwarded_in,
       false},
      {"replicated_out", "Index entry copies sent to replicas.", &c.replicated_out, false},
      {"replicated_in", "Index entry copies received as a replica.", &c.replicated_in, false},
      {"replication_failures", "Copies not sent or refused (a member down, or the outbox full).",
       &c.replication_failures, true},
      {"handed_off_out", "Index entries handed to a new owner.", &c.handed_off_out, false},
      {"handed_off_in", "Index entries received from a previous owner.", &c.handed_off_in, false},
      {"handoff_failures", "Index entries a new owner did not take (retried by rebalance).",
       &c.handoff_failures, true},
      {"handoff_unplaced",
       "Index entries a leaving node could not hand to a staying member (kept on its disk).",
       &c.handoff_unplaced, true},
      {"promoted", "Replica entries that became this node's own.", &c.promoted, false},
      {"state_handed_off_out", "Per-key stream-state slices handed to a key's new owner.",
       &c.state_handed_off_out, false},
      {"state_handed_off_in", "Per-key stream-state slices received from a key's previous owner.",
       &c.state_handed_off_in, false},
      {"state_handoff_failures",
       "Stream-state slices a new owner did not take (it starts those keys fresh).",
       &c.state_handoff_failures, true},
      {"state_replicated_out", "Per-key stream-state slices sent to replicas.",
       &c.state_replicated_out, false},
      {"state_replicated_in", "Per-key stream-state slices received as a replica.",
       &c.state_replicated_in, false},
      {"state_replication_failures", "Stream-state slices not sent to a replica.",
       &c.state_replication_failures, true},
      {"state_promoted", "Replica stream-state slices loaded into the streams as new owner.",
       &c.state_promoted, false},
      {"state_replication_rounds",
       "Stream-state replication rounds finished (each sends the slices that changed).",
       &c.state_replication_rounds, false},
      {"queries", "Cluster-wide queries answered.", &c.queries, false},
      {"query_members_missing", "Members that did not answer a cluster-wide query in time.",
       &c.query_members_missing, true},
      {"partial_queries", "Cluster-wide queries that may have missed keys.", &c.partial_queries,
       true},
      {"rebalances", "Rebalance passes (membership changes and repairs).", &c.rebalances, false},
  };
}

uint64_t load(const std::atomic<uint64_t>* v) {
  return v->load(std::memory_order_relaxed);
}

}  // namespace

std::string cluster_json(const cluster_link& link, const cluster_status* status,
                         size_t index_entries) {
  auto snap = link.get();
  nlohmann::json j;
  j["node"] = snap->view.self();
  j["replication"] = link.replication;
  j["keys_owned"] = index_entries;
  j["replicas_held"] = load(&link.counters.replicas_held);
  j["state_replicas_held"] = load(&link.counters.state_replicas_held);
  j["outbox_dropped"] = link.outbox.dropped();
  auto members = nlohmann::json::array();
  for (auto& id : snap->view.members().members())
    members.push_back({{"node", id}, {"state", "live"}, {"self", id == snap->view.self()}});
  for (auto& id : snap->view.leaving())
    members.push_back({{"node", id}, {"state", "leaving"}, {"self", id == snap->view.self()}});
  j["members"] = members;
  if (status) {
    j["ready"] = status->ready;
    j["readiness"] = status->readiness;
    j["peers"] = status->peers;
  } else {
    j["ready"] = nullptr;
    j["readiness"] = "the cluster actor did not answer";
  }
  auto counters = nlohmann::json::object();
  for (auto& r : rows(link.counters))
    counters[r.name] = load(r.value);
  j["counters"] = counters;
  return j.dump(2) + "\n";
}

std::string cluster_prometheus(const cluster_link& link) {
  std::string out;
  auto snap = link.get();
  out +=
      "# HELP dmon_cluster_members Live cluster members seen by this node.\n"
      "# TYPE dmon_cluster_members gauge\ndmon_cluster_members " +
      std::to_string(
          std::max<size_t>(1, snap->view.members().size() + snap->view.leaving().size())) +
      "\n";
  out +=
      "# HELP dmon_cluster_replicas_held Replica entries held for other owners.\n"
      "# TYPE dmon_cluster_replicas_held gauge\ndmon_cluster_replicas_held " +
      std::to_string(load(&link.counters.replicas_held)) +
      "\n"
      "# HELP dmon_cluster_state_replicas_held Replica stream-state slices (one per key) held for "
      "other owners.\n"
      "# TYPE dmon_cluster_state_replicas_held gauge\ndmon_cluster_state_replicas_held " +
      std::to_string(load(&link.counters.state_replicas_held)) + "\n";
  for (auto& r : rows(link.counters)) {
    auto name = std::string{"dmon_cluster_"} + r.name + "_total";
    out += "# HELP " + name + " " + r.help + "\n# TYPE " + name + " counter\n" + name + " " +
           std::to_string(load(r.value)) + "\n";
  }
  return out;
}

std::vector<event> cluster_events(const cluster_link& link, const std::string& host,
                                  double interval_seconds, int64_t now_us) {
  std::vector<event> out;
  auto snap = link.get();
  auto add = [&](std::string service, double metric, const char* state) {
    event e;
    e.host = host;
    e.service = "dmon cluster " + std::move(service);
    e.state = state;
    e.time_us = now_us;
    e.ttl = 2 * interval_seconds;
    e.metric = metric;
    e.tags = {"dmon"};
    e.attributes.push_back({"node", snap->view.self()});
    out.push_back(std::move(e));
  };
  add("members",
      static_cast<double>(
          std::max<size_t>(1, snap->view.members().size() + snap->view.leaving().size())),
      "ok");
  add("replicas held", static_cast<double>(load(&link.counters.replicas_held)), "ok");
  for (auto& r : rows(link.counters)) {
    std::string words = r.name;
    for (auto& ch : words)
      if (ch == '_')
        ch = ' ';
    auto v = load(r.value);
    add(words, static_cast<double>(v), r.failure && v > 0 ? "warning" : "ok");
  }
  return out;
}

}  // namespace dmon
