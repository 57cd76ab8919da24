// index_bench: the persistent index at scale. Builds an index of N keys through `store::apply`,
// then measures crash recovery, a clean reopen, the memory per key and the latency of every
// query path (issue 5's targets: <= 600 B/key, reopen <= 3 s, prefix LIKE over 1M keys <= 50 ms).
//
// Each phase runs in its own process, so that memory the previous phase freed (but malloc kept)
// does not count, and "reopen" starts cold as after a restart:
//   1. a child builds the index and exits with _exit, without closing or flushing (as kill -9);
//   2. a child reopens it (WAL replay: crash recovery), flushes and closes (a clean shutdown);
//   3. this process reopens it (a clean restart), reads its RSS and runs the queries.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include "store.hpp"

namespace {

using namespace dmon;
using clock_type = std::chrono::steady_clock;

// Ten families of 100 services each, so prefixes select 10 %, 1 % and 0.1 % of the keys.
constexpr const char* families[] = {"cpu",  "disk", "mem",   "net",   "load",
                                    "http", "db",   "queue", "cache", "proc"};

struct options {
  size_t hosts = 1000;
  size_t services = 1000;
  size_t batch = 1000;
  std::string dir;
  bool keep = false;
  bool reopen_only = false;
  bool skip_queries = false;
};

// Returns the resident set size in bytes, from VmRSS in /proc/self/status.
size_t rss_bytes() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("VmRSS:"))
      return std::stoull(line.substr(6)) * 1024;
  return 0;
}

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

std::string host_name(size_t h) {
  return fmt::format("host-{:04}", h);
}

std::string service_name(size_t s) {
  return fmt::format("{} {:03}", families[s / 100 % 10], s % 100 + s / 1000 * 100);
}

store_options store_opts(const options& o) {
  store_options so;
  so.path = o.dir;
  return so;
}

std::unique_ptr<store> open_or_die(const options& o) {
  auto s = store::open(store_opts(o));
  if (!s) {
    fmt::print(stderr, "index_bench: {}\n", s.error().message);
    std::exit(1);
  }
  return std::move(*s);
}

// Phase 1: every host x service once, in batches as the stream actor applies them.
[[noreturn]] void build(const options& o) {
  size_t before = rss_bytes();
  auto s = open_or_die(o);
  std::mt19937_64 rng{42};
  std::uniform_real_distribution<double> metric{0, 1};
  auto now = now_micros();
  std::vector<event> batch;
  batch.reserve(o.batch);
  size_t keys = o.hosts * o.services;
  auto start = clock_type::now();
  for (size_t i = 0; i < keys; ++i) {
    event e;
    // Service-major, as many hosts report the same services in one batch.
    e.host = host_name(i % o.hosts);
    e.service = service_name(i / o.hosts);
    e.state = "ok";
    e.metric = metric(rng);
    e.time_us = now;
    e.ttl = 600;
    e.tags = {"bench"};
    batch.push_back(std::move(e));
    if (batch.size() == o.batch || i + 1 == keys) {
      if (auto r = s->apply(batch); !r) {
        fmt::print(stderr, "index_bench: apply: {}\n", r.error().message);
        std::_Exit(1);
      }
      batch.clear();
    }
  }
  double ms = ms_since(start);
  size_t after = rss_bytes();
  fmt::print("build: {} keys in {:.0f} ms through store::apply, batches of {}: {:.0f} inserts/s\n",
             s->size(), ms, o.batch, s->size() / (ms / 1000));
  fmt::print(
      "build: RSS {:.0f} MB after the inserts, {:.0f} B/key over the start "
      "(memtables included)\n",
      after / 1e6, double(after - before) / s->size());
  std::fflush(stdout);
  // As kill -9: no flush, no close; the WAL holds what the memtables had.
  std::_Exit(0);
}

// Phase 2: crash recovery, then a clean shutdown.
[[noreturn]] void recover(const options& o) {
  auto start = clock_type::now();
  auto s = open_or_die(o);
  double ms = ms_since(start);
  fmt::print("reopen after kill -9 (WAL replay): {:.0f} ms, {} keys\n", ms, s->size());
  start = clock_type::now();
  if (auto r = s->flush(); !r) {
    fmt::print(stderr, "index_bench: flush: {}\n", r.error().message);
    std::_Exit(1);
  }
  s.reset();
  fmt::print("clean shutdown (flush + close): {:.0f} ms\n", ms_since(start));
  std::fflush(stdout);
  std::_Exit(0);
}

void run_child(void (*phase)(const options&), const options& o) {
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) {
    std::perror("fork");
    std::exit(1);
  }
  if (pid == 0)
    phase(o);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fmt::print(stderr, "index_bench: a phase failed\n");
    std::exit(1);
  }
}

struct query_case {
  const char* name;
  std::string text;
};

// Runs `text` until 1 s or 200 runs have passed (at least 5), and prints the median and min.
void time_query(const store& s, const query_case& q) {
  auto p = query::parse(q.text);
  if (!p) {
    fmt::print(stderr, "index_bench: {}\n", p.error().message);
    std::exit(1);
  }
  std::vector<double> runs;
  size_t results = 0;
  auto budget = clock_type::now() + std::chrono::seconds(1);
  while (runs.size() < 5 || (runs.size() < 200 && clock_type::now() < budget)) {
    auto start = clock_type::now();
    auto out = s.select(*p);
    runs.push_back(ms_since(start));
    results = out.size();
  }
  std::sort(runs.begin(), runs.end());
  fmt::print("query {:<16} {:<15} {:>9.4f} ms median {:>9.4f} ms min {:>8} results  {}\n", q.name,
             to_string(index::plan(*p)), runs[runs.size() / 2], runs.front(), results, q.text);
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app{"index_bench: the persistent index at scale (hosts x services keys)"};
  app.add_option("--hosts", o.hosts, "distinct hosts")->capture_default_str();
  app.add_option("--services", o.services, "distinct services (10 families)")
      ->capture_default_str();
  app.add_option("--batch", o.batch, "events per store::apply")->capture_default_str();
  app.add_option("--dir", o.dir, "data directory (default: a new one under $TMPDIR)");
  app.add_flag("--keep", o.keep, "keep the data directory");
  app.add_flag("--reopen-only", o.reopen_only,
               "skip building: reopen --dir (kept by an earlier --keep run) and query it");
  app.add_flag("--skip-queries", o.skip_queries, "stop after the reopen (e.g. to profile it)");
  CLI11_PARSE(app, argc, argv);
  bool own_dir = o.dir.empty();
  if (own_dir) {
    auto tmpl = (std::filesystem::temp_directory_path() / "index_bench.XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      std::perror("mkdtemp");
      return 1;
    }
    o.dir = tmpl;
  }
  fmt::print("index_bench: {} hosts x {} services = {} keys in {}\n", o.hosts, o.services,
             o.hosts * o.services, o.dir);

  if (o.reopen_only && own_dir) {
    fmt::print(stderr, "index_bench: --reopen-only needs --dir\n");
    return 1;
  }
  if (!o.reopen_only) {
    run_child(build, o);
    run_child(recover, o);
  }

  size_t before = rss_bytes();
  auto start = clock_type::now();
  auto s = open_or_die(o);
  double ms = ms_since(start);
  size_t after = rss_bytes();
  fmt::print("reopen after a clean shutdown: {:.0f} ms, {} keys\n", ms, s->size());
  fmt::print("RSS after reopen: {:.0f} MB, {:.0f} B/key over the process before opening\n",
             after / 1e6, double(after - before) / s->size());

  auto mid_host = host_name(o.hosts / 2);
  std::vector<query_case> cases = {
      {"exact lookup", fmt::format(R"(host = "{}" and service = "disk 042")", mid_host)},
      {"host =", fmt::format(R"(host = "{}")", mid_host)},
      {"service =", R"(service = "disk 042")"},
      {"prefix 0.1%", R"(service =~ "disk 042%")"},
      {"prefix 1%", R"(service =~ "disk 04%")"},
      {"prefix 10%", R"(service =~ "disk%")"},
      {"host prefix 1%", R"(host =~ "host-000%")"},
      {"scan 0.1%", "metric > 0.999"},
      {"scan 50%", "metric > 0.5"},
      {"regex scan 1%", R"(service ~= "^disk 04")"},
  };
  for (auto& q : cases)
    if (!o.skip_queries)
      time_query(*s, q);

  s.reset();
  if (own_dir && !o.keep)
    std::filesystem::remove_all(o.dir);
}
