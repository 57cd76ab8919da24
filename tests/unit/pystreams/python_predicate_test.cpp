// A user predicate in a native where(): it sees each event as its own dict, and whatever it
// does to that dict (field values, tags, attributes) never reaches the index or other events.
#include <gtest/gtest.h>
#include <pybind11/embed.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "python_host.hpp"
#include "stream_host.hpp"

namespace py = pybind11;

namespace {

std::filesystem::path module_dir;

dmon::event ev(const std::string& host, const std::string& service) {
  dmon::event e;
  e.host = host;
  e.service = service;
  e.state = "ok";
  e.metric = int64_t{1};
  e.ttl = 60;
  e.time_us = 1'000'000'000'000;
  e.tags = {"a"};
  e.attributes = {{"rack", "r1"}};
  return e;
}

}  // namespace

TEST(python_predicate, mutations_of_the_dict_do_not_reach_the_index) {
  // The stream module may be loaded under another name: what it saw goes to a module of its own.
  std::ofstream(module_dir / "predicate_seen.py") << "seen = []\n";
  std::ofstream(module_dir / "mutating_predicate.py") << R"(
from dmon import index, where
from predicate_seen import seen
def pred(e):
    seen.append((e["host"], e["service"], list(e["tags"]), dict(e["attributes"]), e["ttl"]))
    e["host"] = e["host"] + "-changed"
    e["service"] = "changed"
    e["tags"].append("added")
    e["attributes"]["rack"] = "r2"
    e["ttl"] = 1.0
    e["extra"] = "x"
    return True
stream = where(pred, index())
)";
  std::vector<dmon::event> indexed;
  dmon::stream_sinks sinks;
  sinks.index = [&](dmon::event e) { indexed.push_back(std::move(e)); };
  sinks.store = [](dmon::event) {};
  sinks.publish = [](const std::string&, dmon::event) {};
  sinks.reinject = [](dmon::event) {};
  dmon::stream_host_config cfg;
  cfg.module = "mutating_predicate";
  cfg.settings["native_streams"] = "true";
  cfg.clock_us = [] { return int64_t{1'000'000'000'000}; };
  auto host = dmon::stream_host::load(cfg, std::move(sinks));
  ASSERT_TRUE(host) << host.error().message;
  ASSERT_EQ((*host)->counters().native_roots, 1u);  // the case this test is about

  std::vector<dmon::event> batch{ev("web-1", "cpu"), ev("web-1", "cpu"), ev("web-2", "cpu")};
  (*host)->process(std::span<const dmon::event>{batch});
  ASSERT_EQ(indexed.size(), 3u);
  for (size_t i = 0; i < indexed.size(); ++i) {
    EXPECT_EQ(indexed[i].host, batch[i].host);
    EXPECT_EQ(indexed[i].service, "cpu");
    EXPECT_EQ(indexed[i].ttl, 60);
    EXPECT_EQ(indexed[i].tags, std::vector<std::string>{"a"});
    ASSERT_EQ(indexed[i].attributes.size(), 1u);
    EXPECT_EQ(indexed[i].attributes[0].value, "r1");
  }
  // Each call saw the original event, not the previous call's changes.
  py::gil_scoped_acquire gil;
  auto seen = py::module_::import("predicate_seen").attr("seen");
  ASSERT_EQ(py::len(seen), 3u);
  for (size_t i = 0; i < 3; ++i) {
    py::tuple t = seen[py::int_(i)];
    EXPECT_EQ(t[0].cast<std::string>(), *batch[i].host);
    EXPECT_EQ(t[1].cast<std::string>(), "cpu");
    EXPECT_EQ(py::len(t[2]), 1u);
    EXPECT_EQ(t[3]["rack"].cast<std::string>(), "r1");
    EXPECT_EQ(t[4].cast<double>(), 60.0);
  }
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  module_dir = std::filesystem::temp_directory_path() /
               ("dmon-python-predicate-" + std::to_string(::getpid()));
  std::filesystem::create_directories(module_dir);
  int rc;
  {
    dmon::python_host python{{DMON_PYTHON_DIR, module_dir.string()}};
    rc = RUN_ALL_TESTS();
  }
  std::filesystem::remove_all(module_dir);
  return rc;
}
