// cluster_report: /cluster JSON, Prometheus lines and `dmon cluster` events from one link.
#include "cluster_report.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace {

std::unique_ptr<dmon::cluster_link> make_link() {
  auto owned = std::make_unique<dmon::cluster_link>(10, 2);
  auto& link = *owned;
  auto snap = std::make_shared<dmon::cluster_link::snapshot>();
  snap->view = dmon::cluster_view{dmon::ring{{"a", "b", "c"}}, "b", 2};
  link.set(snap);
  link.counters.forwarded_out = 7;
  link.counters.forward_batches_out = 2;
  link.counters.replicated_out = 5;
  link.counters.replication_failures = 2;
  link.counters.replicas_held = 3;
  return owned;
}

}  // namespace

TEST(cluster_report, json_names_members_ownership_and_counters) {
  auto owned = make_link();
  auto& link = *owned;
  dmon::cluster_status st;
  st.ready = true;
  st.readiness = "ready: 3 members (a, b, c)";
  auto j = nlohmann::json::parse(dmon::cluster_json(link, &st, 42));
  EXPECT_EQ(j["node"], "b");
  EXPECT_EQ(j["keys_owned"], 42);
  EXPECT_EQ(j["replicas_held"], 3);
  EXPECT_EQ(j["members"].size(), 3u);
  EXPECT_EQ(j["members"][1]["self"], true);
  EXPECT_EQ(j["counters"]["forwarded_out"], 7);
  EXPECT_EQ(j["counters"]["forward_batches_out"], 2) << "the mean forward is 7 / 2 events";
  EXPECT_EQ(j["counters"]["forward_batches_in"], 0);
  EXPECT_EQ(j["ready"], true);
  auto silent = nlohmann::json::parse(dmon::cluster_json(link, nullptr, 0));
  EXPECT_TRUE(silent["ready"].is_null());
}

TEST(cluster_report, prometheus_has_every_counter_once) {
  auto text = dmon::cluster_prometheus(*make_link());
  EXPECT_NE(text.find("\ndmon_cluster_replicated_out_total 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\ndmon_cluster_forward_batches_out_total 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dmon_cluster_members 3\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE dmon_cluster_handoff_failures_total counter"), std::string::npos);
  EXPECT_NE(text.find("# TYPE dmon_cluster_handoff_unplaced_total counter"), std::string::npos);
}

TEST(cluster_report, events_warn_on_failures) {
  auto events = dmon::cluster_events(*make_link(), "host-1", 10, 123);
  bool saw_failures = false, saw_members = false;
  for (auto& e : events) {
    EXPECT_EQ(*e.host, "host-1");
    EXPECT_EQ(*e.ttl, 20);
    if (*e.service == "dmon cluster replication failures") {
      saw_failures = true;
      EXPECT_EQ(*e.state, "warning");
    }
    if (*e.service == "dmon cluster members") {
      saw_members = true;
      EXPECT_EQ(*e.metric_as_double(), 3);
      EXPECT_EQ(*e.state, "ok");
    }
  }
  EXPECT_TRUE(saw_failures && saw_members);
}
