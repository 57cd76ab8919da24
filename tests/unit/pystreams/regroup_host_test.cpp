// stream_host and regroup(): events leave through the regroup sink and come back by address,
// on native and Python roots alike; an address the module lacks is counted, not run.
#include <gtest/gtest.h>
#include <pybind11/embed.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "python_host.hpp"
#include "stream_host.hpp"

namespace py = pybind11;

namespace {

std::filesystem::path module_dir;
int module_counter = 0;

std::string write_module(const std::string& body) {
  std::string name = "regroup_host_" + std::to_string(module_counter++);
  std::ofstream(module_dir / (name + ".py")) << "from dmon import *\n" << body << "\n";
  py::gil_scoped_acquire gil;
  py::module_::import("importlib").attr("invalidate_caches")();
  return name;
}

dmon::event ev(const std::string& host, const std::string& service) {
  dmon::event e;
  e.host = host;
  e.service = service;
  e.metric = int64_t{1};
  e.time_us = 1'000'000'000'000;
  return e;
}

struct harness {
  std::unique_ptr<dmon::stream_host> host;
  std::vector<dmon::event> indexed;
  dmon::regrouped_batch sent;  // what left through the regroup sink, key_hash unused here
  std::vector<std::vector<std::string>> fields;

  harness(const std::string& module, bool native, bool with_sink = true) {
    dmon::stream_sinks sinks;
    sinks.index = [this](dmon::event e) { indexed.push_back(std::move(e)); };
    sinks.store = [](dmon::event) {};
    sinks.publish = [](const std::string&, dmon::event) {};
    sinks.reinject = [](dmon::event) {};
    if (with_sink)
      sinks.regroup = [this](const std::string& address, const std::vector<std::string>& f,
                             dmon::event e) {
        sent.push_back({address, 0, std::move(e)});
        fields.push_back(f);
      };
    dmon::stream_host_config cfg;
    cfg.module = module;
    cfg.settings["native_streams"] = native ? "true" : "false";
    cfg.clock_us = [] { return int64_t{1'000'000'000'000}; };
    auto loaded = dmon::stream_host::load(cfg, std::move(sinks));
    if (!loaded)
      throw std::runtime_error(loaded.error().message);
    host = std::move(*loaded);
  }
};

// Per-service counters under regroup: what the index holds for each service at the end.
std::map<std::string, double> last_counts(const std::vector<dmon::event>& indexed) {
  std::map<std::string, double> out;
  for (auto& e : indexed)
    out[*e.service] = *e.metric_as_double();
  return out;
}

class regroup_host : public ::testing::TestWithParam<bool> {};

TEST_P(regroup_host, events_leave_through_the_sink_and_run_where_delivered) {
  bool native = GetParam();
  auto module =
      write_module("stream = where('metric > 0', regroup(['service'], counter(index())))");
  harness h{module, native};
  EXPECT_EQ(h.host->native_stream_names().size(), native ? 1u : 0u);
  std::vector<dmon::event> batch{ev("a", "x"), ev("b", "x"), ev("c", "y")};
  h.host->process(batch);
  EXPECT_TRUE(h.indexed.empty());  // nothing ran below regroup yet
  ASSERT_EQ(h.sent.size(), 3u);
  EXPECT_EQ(h.sent[0].address, "stream/where/0:regroup");
  EXPECT_EQ(h.fields[0], std::vector<std::string>{"service"});
  EXPECT_EQ(*h.sent[2].e.host, "c");

  std::string unknown;
  EXPECT_EQ(h.host->deliver_regrouped(h.sent, &unknown), 0u);
  EXPECT_TRUE(unknown.empty());
  // by(["service"]) below regroup: one counter per service.
  EXPECT_EQ(last_counts(h.indexed), (std::map<std::string, double>{{"x", 2}, {"y", 1}}));
  EXPECT_EQ(h.host->counters().regrouped_out, 3u);
  EXPECT_EQ(h.host->counters().regrouped_in, 3u);
}

TEST_P(regroup_host, an_address_the_module_lacks_is_counted_and_named) {
  auto module = write_module("stream = regroup([], index())");
  harness h{module, GetParam()};
  dmon::regrouped_batch batch{{"other_stream/regroup", 0, ev("a", "x")},
                              {"stream/regroup", 0, ev("b", "x")}};
  std::string unknown;
  EXPECT_EQ(h.host->deliver_regrouped(batch, &unknown), 1u);
  EXPECT_EQ(unknown, "other_stream/regroup");
  EXPECT_EQ(h.host->counters().regroup_unknown, 1u);
  ASSERT_EQ(h.indexed.size(), 1u);  // the known one still ran
  EXPECT_EQ(*h.indexed[0].host, "b");
}

TEST_P(regroup_host, without_a_sink_regroup_is_by) {
  auto module = write_module("stream = regroup(['service'], counter(index()))");
  harness h{module, GetParam(), false};
  std::vector<dmon::event> batch{ev("a", "x"), ev("b", "x"), ev("c", "y")};
  h.host->process(batch);
  EXPECT_EQ(last_counts(h.indexed), (std::map<std::string, double>{{"x", 2}, {"y", 1}}));
}

TEST(regroup_host_native, a_native_root_stays_native_on_both_sides) {
  auto module = write_module("stream = regroup(['service'], rate(1, index()))");
  harness h{module, true};
  ASSERT_EQ(h.host->native_stream_names(), std::vector<std::string>{"stream"});
  std::vector<dmon::event> batch{ev("a", "x")};
  h.host->process(batch);
  ASSERT_EQ(h.sent.size(), 1u);
  EXPECT_EQ(h.host->deliver_regrouped(h.sent), 0u);
  h.host->tick(1'000'000'000'000 + 1'000'000);
  ASSERT_FALSE(h.indexed.empty());
  EXPECT_EQ(*h.indexed.back().service, "x");
  EXPECT_EQ(*h.indexed.back().metric_as_double(), 1.0);
}

TEST_P(regroup_host, below_by_forks_send_and_the_template_receives) {
  // Per-host forks, then one count over every host: the forks' regroup copies send under
  // their template's address, and the template's children run what comes back.
  auto module = write_module(
      "stream = by(['host'], tag('seen', regroup([], with_('host', 'all', counter(index())))))");
  harness h{module, GetParam()};
  EXPECT_EQ(h.host->native_stream_names().size(), GetParam() ? 1u : 0u);
  std::vector<dmon::event> batch{ev("a", "x"), ev("b", "x"), ev("a", "x")};
  h.host->process(batch);
  ASSERT_EQ(h.sent.size(), 3u);
  EXPECT_EQ(h.sent[0].address, "stream/by/t0:tag/0:regroup");
  EXPECT_EQ(h.host->deliver_regrouped(h.sent), 0u);
  ASSERT_EQ(h.indexed.size(), 3u);  // one counter for every fork's events
  EXPECT_EQ(*h.indexed.back().metric_as_double(), 3.0);
  EXPECT_EQ(h.indexed.back().tags, std::vector<std::string>{"seen"});
}

TEST(regroup_host_native, regroup_built_by_a_function_in_by_stays_in_python_and_says_why) {
  auto module = write_module("stream = by(['host'], lambda: regroup([], index()))");
  harness h{module, true};
  EXPECT_TRUE(h.host->native_stream_names().empty());
  std::vector<dmon::event> batch{ev("a", "x")};
  h.host->process(batch);  // the regroup copy in the fork has no address: reported, not sent
  EXPECT_TRUE(h.sent.empty());
  EXPECT_GE(h.host->counters().child_exceptions, 1u);
}

INSTANTIATE_TEST_SUITE_P(paths, regroup_host, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "native" : "python"; });

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  module_dir =
      std::filesystem::temp_directory_path() / ("dmon-regroup-host-" + std::to_string(::getpid()));
  std::filesystem::create_directories(module_dir);
  int rc;
  {
    dmon::python_host python{{DMON_PYTHON_DIR, module_dir.string()}};
    rc = RUN_ALL_TESTS();
  }
  std::filesystem::remove_all(module_dir);
  return rc;
}
