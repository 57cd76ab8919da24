// Tests of Prometheus rendering, the latency histogram and the self-instrumentation events.
#include "metrics.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

using namespace dmon;

namespace {

metrics_snapshot sample_snapshot() {
  metrics_snapshot s;
  s.time_us = 1'700'000'000'000'000;
  listener_snapshot tcp;
  tcp.name = "tcp 127.0.0.1:5555";
  tcp.messages = 100;
  tcp.bytes = 4096;
  tcp.events_accepted = 250;
  tcp.messages_rejected = 2;
  tcp.too_large = 1;
  tcp.connections = 3;
  s.listeners.push_back(tcp);
  listener_snapshot udp;
  udp.name = "udp 127.0.0.1:5555";
  udp.messages = 10;
  udp.dropped_datagrams = 4;
  udp.queued = 700;
  udp.queue_capacity = 1000;
  s.listeners.push_back(udp);
  shard_snapshot shard;
  shard.shard = 0;
  shard.events_in = 250;
  shard.root_exceptions = 1;
  shard.regrouped_out = 7;
  shard.regrouped_in = 6;
  shard.regroup_unknown = 2;
  s.shards.push_back(shard);
  s.index_size = 42;
  s.expired = 5;
  http_snapshot h;
  h.name = "http 127.0.0.1:5556";
  h.subscribers = 2;
  h.max_subscribers = 256;
  h.subscribers_dropped_slow = 1;
  s.http = h;
  s.process = {1 << 20, 1.5};
  return s;
}

// Returns value by "name{labels}" for every sample line, and checks that each
// sample belongs to a family announced by HELP and TYPE lines before it.
std::map<std::string, std::string> parse_exposition(const std::string& text) {
  std::map<std::string, std::string> samples;
  std::map<std::string, std::string> types;
  std::set<std::string> helped;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      helped.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      auto name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(helped.count(name)) << "TYPE without HELP: " << line;
      EXPECT_FALSE(types.count(name)) << "family announced twice: " << name;
      types[name] = line.substr(line.rfind(' ') + 1);
      continue;
    }
    EXPECT_FALSE(line.empty());
    auto space = line.rfind(' ');
    auto key = line.substr(0, space);
    auto name = key.substr(0, key.find('{'));
    std::string family = name;
    for (auto suffix : {"_bucket", "_sum", "_count"})
      if (!types.count(family) && name.ends_with(suffix))
        family = name.substr(0, name.size() - std::string{suffix}.size());
    EXPECT_TRUE(types.count(family)) << "sample without TYPE: " << line;
    EXPECT_EQ(name.rfind("dmon_", 0), 0u) << line;
    if (types[family] == "counter") {
      EXPECT_TRUE(name.ends_with("_total")) << line;
    }
    samples[key] = line.substr(space + 1);
  }
  return samples;
}

const event* find(const std::vector<event>& es, const std::string& service) {
  for (auto& e : es)
    if (e.service == service)
      return &e;
  return nullptr;
}

}  // namespace

TEST(metrics, renders_every_figure_with_help_type_and_units) {
  auto text = render_prometheus(sample_snapshot());
  auto s = parse_exposition(text);
  EXPECT_EQ(s["dmon_listener_received_messages_total{listener=\"tcp 127.0.0.1:5555\"}"], "100");
  EXPECT_EQ(s["dmon_listener_received_bytes_total{listener=\"tcp 127.0.0.1:5555\"}"], "4096");
  EXPECT_EQ(s["dmon_listener_accepted_events_total{listener=\"tcp 127.0.0.1:5555\"}"], "250");
  EXPECT_EQ(s["dmon_listener_rejected_messages_total{listener=\"tcp "
              "127.0.0.1:5555\",reason=\"malformed\"}"],
            "2");
  EXPECT_EQ(s["dmon_listener_rejected_messages_total{listener=\"tcp "
              "127.0.0.1:5555\",reason=\"too_large\"}"],
            "1");
  EXPECT_EQ(s["dmon_listener_dropped_messages_total{listener=\"udp "
              "127.0.0.1:5555\",reason=\"queue_full\"}"],
            "4");
  EXPECT_EQ(s["dmon_listener_connections{listener=\"tcp 127.0.0.1:5555\"}"], "3");
  EXPECT_EQ(s["dmon_listener_queue_depth{listener=\"udp 127.0.0.1:5555\"}"], "700");
  EXPECT_EQ(s["dmon_listener_queue_capacity{listener=\"udp 127.0.0.1:5555\"}"], "1000");
  EXPECT_FALSE(s.count("dmon_listener_queue_capacity{listener=\"tcp 127.0.0.1:5555\"}"));
  EXPECT_EQ(s["dmon_stream_events_total{shard=\"0\"}"], "250");
  EXPECT_EQ(s["dmon_stream_exceptions_total{shard=\"0\",level=\"root\"}"], "1");
  EXPECT_EQ(s["dmon_stream_regrouped_events_total{shard=\"0\",direction=\"out\"}"], "7");
  EXPECT_EQ(s["dmon_stream_regrouped_events_total{shard=\"0\",direction=\"in\"}"], "6");
  EXPECT_EQ(s["dmon_stream_regroup_unknown_events_total{shard=\"0\"}"], "2");
  EXPECT_EQ(s["dmon_index_entries"], "42");
  EXPECT_EQ(s["dmon_index_expired_events_total"], "5");
  EXPECT_EQ(s["dmon_http_subscribers{server=\"http 127.0.0.1:5556\"}"], "2");
  EXPECT_EQ(s["dmon_http_dropped_subscribers_total{server=\"http "
              "127.0.0.1:5556\",reason=\"slow_consumer\"}"],
            "1");
  EXPECT_EQ(s["dmon_process_resident_memory_bytes"], "1048576");
  EXPECT_EQ(s["dmon_process_cpu_seconds_total"], "1.5");
}

TEST(metrics, escapes_label_values) {
  metrics_snapshot snap;
  listener_snapshot l;
  l.name = "odd \"name\" with \\ and\nnewline";
  snap.listeners.push_back(l);
  auto text = render_prometheus(snap);
  EXPECT_NE(text.find("{listener=\"odd \\\"name\\\" with \\\\ and\\nnewline\"}"), std::string::npos)
      << text;
  parse_exposition(text);
}

TEST(metrics, histogram_buckets_are_cumulative_and_end_in_inf) {
  latency_histogram h;
  h.observe(0.00001);  // first bucket
  h.observe(0.003);    // le 0.005
  h.observe(0.003);
  h.observe(100);  // only +Inf
  metrics_snapshot snap;
  snap.histograms.push_back(
      h.snapshot("dmon_stream_batch_latency_seconds", "Time to run one batch.", {{"shard", "0"}}));
  auto s = parse_exposition(render_prometheus(snap));
  EXPECT_EQ(s["dmon_stream_batch_latency_seconds_bucket{shard=\"0\",le=\"5e-05\"}"], "1");
  EXPECT_EQ(s["dmon_stream_batch_latency_seconds_bucket{shard=\"0\",le=\"0.0025\"}"], "1");
  EXPECT_EQ(s["dmon_stream_batch_latency_seconds_bucket{shard=\"0\",le=\"0.005\"}"], "3");
  EXPECT_EQ(s["dmon_stream_batch_latency_seconds_bucket{shard=\"0\",le=\"10\"}"], "3");
  EXPECT_EQ(s["dmon_stream_batch_latency_seconds_bucket{shard=\"0\",le=\"+Inf\"}"], "4");
  EXPECT_EQ(s["dmon_stream_batch_latency_seconds_count{shard=\"0\"}"], "4");
  EXPECT_NEAR(std::stod(s["dmon_stream_batch_latency_seconds_sum{shard=\"0\"}"]), 100.00601, 1e-9);
}

TEST(metrics, histogram_quantiles_are_bucket_upper_bounds) {
  latency_histogram h;
  for (int i = 0; i < 99; ++i)
    h.observe(0.0007);
  h.observe(0.2);
  auto snap = h.snapshot("x", "y");
  EXPECT_DOUBLE_EQ(*snap.quantile(0.5), 0.001);
  EXPECT_DOUBLE_EQ(*snap.quantile(0.99), 0.001);
  EXPECT_DOUBLE_EQ(*snap.quantile(0.999), 0.25);
  latency_histogram empty;
  EXPECT_FALSE(empty.snapshot("x", "y").quantile(0.5));
}

TEST(metrics, instrumentation_without_a_previous_snapshot_has_no_rates) {
  auto es = instrumentation_events(sample_snapshot(), nullptr, {"node-1", 10});
  EXPECT_TRUE(find(es, "dmon index size"));
  EXPECT_FALSE(find(es, "dmon streams rate"));
  EXPECT_FALSE(find(es, "dmon server tcp 127.0.0.1:5555 in rate"));
  for (auto& e : es) {
    EXPECT_EQ(e.host, "node-1");
    EXPECT_EQ(e.tags, std::vector<std::string>{"dmon"});
    EXPECT_EQ(e.ttl, 20);
    EXPECT_EQ(e.time_us, sample_snapshot().time_us);
    EXPECT_EQ(e.service->rfind("dmon ", 0), 0u);
  }
}

TEST(metrics, instrumentation_computes_rates_between_snapshots) {
  auto before = sample_snapshot();
  auto now = sample_snapshot();
  now.time_us += 10'000'000;
  now.listeners[0].messages += 500;
  now.listeners[0].events_accepted += 1000;
  now.shards[0].events_in += 2000;
  now.listeners[1].dropped_datagrams += 30;
  now.process.cpu_seconds += 5;
  auto es = instrumentation_events(now, &before, {"node-1", 10});
  auto* in = find(es, "dmon server tcp 127.0.0.1:5555 in rate");
  ASSERT_TRUE(in);
  EXPECT_DOUBLE_EQ(*in->metric_as_double(), 50);
  EXPECT_EQ(in->state, "ok");
  EXPECT_DOUBLE_EQ(*find(es, "dmon server tcp 127.0.0.1:5555 accepted rate")->metric_as_double(),
                   100);
  EXPECT_DOUBLE_EQ(*find(es, "dmon streams rate")->metric_as_double(), 200);
  auto* dropped = find(es, "dmon server udp 127.0.0.1:5555 dropped rate");
  ASSERT_TRUE(dropped);
  EXPECT_DOUBLE_EQ(*dropped->metric_as_double(), 3);
  EXPECT_EQ(dropped->state, "warning");
  EXPECT_DOUBLE_EQ(*find(es, "dmon process cpu")->metric_as_double(), 0.5);
  EXPECT_DOUBLE_EQ(*find(es, "dmon server tcp 127.0.0.1:5555 conns")->metric_as_double(), 3);
  EXPECT_FALSE(find(es, "dmon server udp 127.0.0.1:5555 conns"));
  EXPECT_DOUBLE_EQ(*find(es, "dmon index size")->metric_as_double(), 42);
}

TEST(metrics, queue_used_turns_warning_past_half_and_critical_past_three_quarters) {
  auto snap = sample_snapshot();
  auto state_at = [&](uint64_t queued) {
    snap.listeners[1].queued = queued;
    auto es = instrumentation_events(snap, nullptr, {"n", 10});
    auto* e = find(es, "dmon server udp 127.0.0.1:5555 queue used");
    EXPECT_TRUE(e);
    return e ? *e->state : std::string{};
  };
  EXPECT_EQ(state_at(500), "ok");
  EXPECT_EQ(state_at(501), "warning");
  EXPECT_EQ(state_at(750), "warning");
  EXPECT_EQ(state_at(751), "critical");
}

TEST(metrics, histograms_with_a_service_become_latency_quantile_events_in_milliseconds) {
  latency_histogram h;
  h.observe(0.0007);
  auto snap = sample_snapshot();
  snap.histograms.push_back(
      h.snapshot("dmon_stream_latency_seconds", "help", {}, "streams latency"));
  auto es = instrumentation_events(snap, nullptr, {"n", 10});
  auto* e = find(es, "dmon streams latency 0.99");
  ASSERT_TRUE(e);
  EXPECT_DOUBLE_EQ(*e->metric_as_double(), 1.0);
  EXPECT_TRUE(find(es, "dmon streams latency 0.5"));
  EXPECT_TRUE(find(es, "dmon streams latency 0.999"));
}

TEST(metrics, reads_its_own_process_figures) {
  auto p = read_process();
  EXPECT_GT(p.resident_bytes, 0u);
  EXPECT_GE(p.cpu_seconds, 0.0);
}
