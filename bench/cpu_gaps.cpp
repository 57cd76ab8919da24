// dmon-cpu-gaps: how long the machine itself takes a CPU away from a running thread.
//
// Spins on the clock on every CPU it is given (one thread each) and reports every gap between
// two clock reads longer than a threshold: time the thread was runnable but did not run
// (the kernel's own work, other tasks, the hypervisor). A latency tail shorter than these
// gaps cannot be promised by any server on the machine.
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <iostream>
#include <thread>
#include <vector>

namespace {

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

struct gap {
  int64_t at;  // since the start
  int64_t length;
};

std::vector<gap> probe(int64_t t0, int64_t end, int64_t threshold) {
  std::vector<gap> gaps;
  for (int64_t last = now_ns(); last < end;) {
    int64_t t = now_ns();
    if (t - last > threshold)
      gaps.push_back({last - t0, t - last});
    last = t;
  }
  return gaps;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  double threshold_us = 300;
  int threads = 0;
  bool list = false;
  CLI::App app{"dmon-cpu-gaps: spin on every CPU and report the gaps the machine takes",
               "dmon-cpu-gaps"};
  app.add_option("--duration", seconds, "seconds to spin")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str();
  app.add_option("--threshold-us", threshold_us, "report gaps longer than this")
      ->check(CLI::Range(1.0, 1e6))
      ->capture_default_str();
  app.add_option("--threads", threads,
                 "spinning threads, each pinned to its own CPU (0: one per CPU)")
      ->capture_default_str();
  app.add_flag("--list", list, "print every gap (time since start: length)");
  CLI11_PARSE(app, argc, argv);
  int cpus = static_cast<int>(std::thread::hardware_concurrency());
  if (threads <= 0 || threads > cpus)
    threads = cpus;

  const int64_t t0 = now_ns();
  const int64_t end = t0 + static_cast<int64_t>(seconds * 1e9);
  const auto threshold = static_cast<int64_t>(threshold_us * 1e3);
  std::vector<std::vector<gap>> found(threads);
  std::vector<std::thread> spinners;
  for (int i = 0; i < threads; ++i)
    spinners.emplace_back([&, i] {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(i, &set);
      pthread_setaffinity_np(pthread_self(), sizeof set, &set);
      found[i] = probe(t0, end, threshold);
    });
  for (auto& t : spinners)
    t.join();

  for (int i = 0; i < threads; ++i) {
    auto& g = found[i];
    int64_t total = 0, longest = 0;
    for (auto& x : g) {
      total += x.length;
      longest = std::max(longest, x.length);
    }
    fmt::print(
        "cpu {}: {} gaps > {:.0f} us, {:.2f} ms in all ({:.2f} % of the run), longest {:.2f} ms\n",
        i, g.size(), threshold_us, total / 1e6, 100.0 * total / (seconds * 1e9), longest / 1e6);
    if (list) {
      for (auto& x : g)
        fmt::print("  {:.1f} ms: {:.2f} ms\n", x.at / 1e6, x.length / 1e6);
    }
  }
  // Gaps on every CPU at once (within 1 ms): the whole machine paused, as a hypervisor does.
  if (threads > 1) {
    int together = 0;
    for (auto& x : found[0]) {
      bool all = true;
      for (int i = 1; i < threads && all; ++i)
        all = std::any_of(found[i].begin(), found[i].end(),
                          [&](const gap& y) { return std::abs(y.at - x.at) < 1'000'000; });
      together += all;
    }
    fmt::print("gaps on every CPU at once: {}\n", together);
  }
}
