// state_export_bench: what a cluster replication round costs a shard: stream_host::export_keys
// over N keys of a changed_state, every key (a handoff, and every round before dirty tracking)
// vs only the changed ones (a round now), all or 1% changed, on the native and the Python path.
// --shape regroup puts it below regroup(["service"]) (N services, a slice per regroup key);
// --shape regroup_all below regroup([]) (one slice, the empty key's, always whole).
//
//     ./build/state_export_bench [--keys 20000] [--rounds 5] [--shape changed_state]
//
// The shard (and the GIL) is held for the whole export: the figure is also the stall.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <vector>

#include "python_host.hpp"
#include "stream_host.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using which = dmon::stream_host::key_export;

// regroup(["service"]) keys by service; the others by host.
bool by_service = false;

dmon::event key_event(int i, const char* state) {
  dmon::event e;
  e.host = by_service ? std::string{"host-0"} : fmt::format("host-{}", i);
  e.service = by_service ? fmt::format("svc-{}", i) : std::string{"cpu"};
  e.state = state;
  e.metric = 1.0;
  return e;
}

// Median of `rounds` timings of f(), in ms.
template <class F>
double median_ms(int rounds, F&& f) {
  std::vector<double> ms;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = clock_type::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void run(const std::string& module, bool native, int keys, int rounds) {
  dmon::stream_sinks sinks;
  sinks.index = [](dmon::event) {};
  sinks.reinject = [](dmon::event) {};
  dmon::stream_host_config cfg;
  cfg.module = module;
  cfg.settings["native_streams"] = native ? "true" : "false";
  auto host = dmon::stream_host::load(cfg, std::move(sinks));
  if (!host) {
    fmt::print(stderr, "{}\n", host.error().message);
    std::exit(1);
  }
  auto& h = **host;
  std::vector<dmon::event> batch;
  for (int i = 0; i < keys; ++i)
    batch.push_back(key_event(i, "ok"));
  h.process(batch);
  const char* path = native ? "native" : "python";
  size_t n = 0;
  // Every key, as each round exported before (and a handoff still does).
  double all = median_ms(rounds, [&] { n = h.export_keys(which::all).size(); });
  fmt::print("{} keys={} export all: {:.1f} ms ({:.1f} us/key, {} slices)\n", path, keys, all,
             1e3 * all / keys, n);
  // A round: change some keys (not timed), then export the changed ones (timed).
  std::vector<std::string> states = {"ok", "warning"};
  int flip = 0;
  auto round_ms = [&](std::vector<dmon::event>& changes) {
    std::vector<double> ms;
    for (int r = 0; r < rounds; ++r) {
      ++flip;
      for (auto& e : changes)
        e.state = states[flip % 2];
      h.process(changes);
      auto t0 = clock_type::now();
      n = h.export_keys(which::changed).size();
      ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  };
  h.export_keys(which::changed);  // forget what loading marked
  double dirty_all = round_ms(batch);
  fmt::print("{} keys={} round, all changed: {:.1f} ms ({:.1f} us/key, {} slices)\n", path, keys,
             dirty_all, 1e3 * dirty_all / keys, n);
  std::vector<dmon::event> few;
  for (int i = 0; i < keys; i += 100)
    few.push_back(key_event(i, "ok"));
  double one_pct = round_ms(few);
  fmt::print("{} keys={} round, 1% changed: {:.2f} ms ({} slices)\n", path, keys, one_pct, n);
  double none = median_ms(rounds, [&] { n = h.export_keys(which::changed).size(); });
  fmt::print("{} keys={} round, nothing changed: {:.2f} ms ({} slices)\n", path, keys, none, n);
  auto slices = h.export_keys(which::all);
  double import = median_ms(rounds, [&] { h.import_keys(slices); });
  fmt::print("{} keys={} import all: {:.1f} ms ({:.1f} us/key)\n", path, keys, import,
             1e3 * import / keys);
}

}  // namespace

int main(int argc, char** argv) {
  int keys = 20000, rounds = 5;
  std::string shape = "changed_state";
  CLI::App app{"state_export_bench: per-key stream-state export cost per replication round"};
  app.add_option("--shape", shape, "changed_state, regroup or regroup_all")
      ->check(CLI::IsMember({"changed_state", "regroup", "regroup_all"}))
      ->capture_default_str();
  app.add_option("--keys", keys, "keys in the shard")->capture_default_str();
  app.add_option("--rounds", rounds, "timed repetitions (the median is printed)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  auto dir = std::filesystem::temp_directory_path() /
             fmt::format("dmon-state-export-bench-{}", ::getpid());
  std::filesystem::create_directories(dir);
  by_service = shape == "regroup";
  std::string stream = shape == "regroup"       ? "regroup(['service'], changed_state(index()))"
                       : shape == "regroup_all" ? "regroup([], changed_state(index()))"
                                                : "changed_state(index())";
  std::ofstream(dir / "state_export_bench_streams.py")
      << "from dmon import *\nstream = " << stream << "\n";
  {
    dmon::python_host python{{DMON_PYTHON_DIR, dir.string()}};
    for (bool native : {true, false})
      run("state_export_bench_streams", native, keys, rounds);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
