// dmon-python-stage: the Python stage alone — events through event_convert and a stream module, no
// network.
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "index.hpp"
#include "python_host.hpp"
#include "stream_host.hpp"

int main(int argc, char** argv) {
  // stdout carries only the JSON result line that bench/run.sh records; logs go to stderr.
  spdlog::set_default_logger(spdlog::stderr_color_mt("stage"));
  std::string module = "streams";
  std::string python_path;
  uint64_t max_events = 2'000'000;
  double duration = 5;
  size_t batch = 1000;
  uint64_t hosts = 100, services = 100;
  bool native = true;
  CLI::App app{"dmon-python-stage: push events through a stream module in-process and time it",
               "dmon-python-stage"};
  app.add_option("--streams", module, "stream module (as dmond --streams)")->capture_default_str();
  app.add_option("--python-path", python_path, "extra sys.path entry (as dmond --python-path)");
  app.add_option("--events", max_events, "stop after this many events")->capture_default_str();
  app.add_option("--duration", duration, "stop after this many seconds")->capture_default_str();
  app.add_option("--batch", batch, "events per process() call (one GIL acquisition each)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--hosts", hosts, "distinct hosts")->capture_default_str();
  app.add_option("--services", services, "distinct services per host")->capture_default_str();
  app.add_option("--native", native,
                 "run roots made only of built-ins natively (as dmond --native-streams)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // The same sys.path dmond builds: the extra path, then the package and the examples.
  std::vector<std::string> paths;
  if (!python_path.empty())
    paths.push_back(python_path);
  paths.push_back(DMON_PYTHON_DIR);
  paths.push_back(std::string{DMON_PYTHON_DIR} + "/examples");
  dmon::python_host python{paths};

  // Sinks do what dmond's do for index() (insert into the shared index), so the
  // figure includes the C++ side of indexing; re-injected events are only counted.
  dmon::index idx{60};
  uint64_t reinjected = 0;
  dmon::stream_sinks sinks;
  sinks.index = [&](dmon::event e) { idx.insert(std::move(e)); };
  sinks.reinject = [&](dmon::event) { ++reinjected; };
  dmon::stream_host_config cfg;
  cfg.module = module;
  cfg.settings["native_streams"] = native ? "true" : "false";
  auto host = dmon::stream_host::load(cfg, std::move(sinks));
  if (!host) {
    std::cerr << "dmon-python-stage: " << host.error().message << "\n";
    return 2;
  }

  uint64_t keys = std::max<uint64_t>(1, hosts * services);
  std::vector<dmon::event> pool;
  std::mt19937_64 rng{42};
  std::uniform_real_distribution<double> metric{0, 100};
  auto now = dmon::now_micros();
  for (uint64_t k = 0; k < std::max<uint64_t>(keys, 10'000); ++k) {
    dmon::event e;
    e.host = fmt::format("host-{}", (k % keys) / services);
    e.service = fmt::format("svc-{}", (k % keys) % services);
    e.state = "ok";
    e.time_us = now;
    e.ttl = 60;
    e.metric = metric(rng);
    pool.push_back(std::move(e));
  }

  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  auto end = t0 + std::chrono::duration<double>(duration);
  auto next_tick = t0 + std::chrono::seconds{1};
  uint64_t done = 0;
  size_t next = 0;
  while (done < max_events && clock::now() < end) {
    // dmond ticks every second (--tick-interval); rates and windows flush then.
    if (clock::now() >= next_tick) {
      (*host)->tick(dmon::now_micros());
      next_tick += std::chrono::seconds{1};
    }
    size_t n = std::min<uint64_t>(batch, max_events - done);
    if (next + n > pool.size())
      next = 0;
    n = std::min(n, pool.size() - next);
    (*host)->process(std::span<const dmon::event>{pool.data() + next, n});
    next += n;
    done += n;
  }
  double secs = std::chrono::duration<double>(clock::now() - t0).count();
  auto& c = (*host)->counters();
  std::cout << fmt::format(
                   "{{\"stage\":\"python\",\"module\":\"{}\",\"native_roots\":{},"
                   "\"python_roots\":{},\"batch\":{},\"events\":{},"
                   "\"elapsed_s\":{:.3f},\"events_per_s\":{:.0f},\"indexed_keys\":{},"
                   "\"reinjected\":{},\"exceptions\":{}}}",
                   module, c.native_roots, c.python_roots, batch, done, secs, done / secs,
                   idx.size(), reinjected, c.root_exceptions + c.child_exceptions)
            << std::endl;
  std::cerr << fmt::format("dmon-python-stage {}: {} events in {:.2f} s = {:.0f} events/s\n",
                           module, done, secs, done / secs);
  return 0;
}
