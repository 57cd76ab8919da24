// Native vs Python stream paths: the same random event sequences through both give the same
// outputs.
//
// Both paths run through the real stream_host (load, compile from dmon.native.plan, sinks,
// ticks, checkpoints) on one embedded interpreter, with a shared fake clock; the Python
// path is the reference. Every native run first checks that its roots did compile to the
// native engine, so a silent fallback to Python cannot make a test pass.
#include <gtest/gtest.h>
#include <pybind11/embed.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "json_codec.hpp"
#include "python_host.hpp"
#include "stream_host.hpp"

namespace py = pybind11;

namespace {

std::filesystem::path module_dir;
int64_t fake_now_us = 0;
int module_counter = 0;

struct record {
  std::string sink;
  std::string topic;
  dmon::event e;
};

struct step {
  bool tick = false;
  int64_t at_us = 0;
  std::vector<dmon::event> events;
};

constexpr int64_t base_us = 1'000'000'000'000;  // 1e6 s: every 1/8 s grid point is an exact double
constexpr int64_t grid_us = 125'000;

std::string write_module(const std::string& body) {
  std::string name = "native_eq_" + std::to_string(module_counter++);
  std::ofstream(module_dir / (name + ".py")) << "from dmon import *\n" << body << "\n";
  py::gil_scoped_acquire gil;
  py::module_::import("importlib").attr("invalidate_caches")();
  return name;
}

// Random events on a small key space, time moving forward on the 1/8 s grid, ticks between.
std::vector<step> random_steps(uint64_t seed, int n_events) {
  std::mt19937_64 rng{seed};
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const char* hosts[] = {"h0", "h1", "h2", "h3"};
  const char* services[] = {"svc-1", "svc-2", "cpu", "disk"};
  const char* states[] = {"ok", "ok", "warning", "critical"};
  const char* tags[] = {"a", "b", "c"};
  const double ttls[] = {1, 2.5, 5, 10, 60};
  std::vector<step> out;
  int64_t now = base_us;
  int made = 0;
  while (made < n_events) {
    now += grid_us * pick(6);
    if (pick(3) == 0) {
      out.push_back(step{true, now, {}});
      continue;
    }
    step s{false, now, {}};
    int n = 1 + pick(8);
    for (int i = 0; i < n && made < n_events; ++i, ++made) {
      dmon::event e;
      if (pick(10))
        e.host = hosts[pick(4)];
      if (pick(10))
        e.service = services[pick(4)];
      // Expired and stale events are rare: each one stops a rate or coalesce.
      if (pick(6))
        e.state = pick(40) ? states[pick(4)] : "expired";
      int m = pick(4);
      if (m == 1)
        e.metric = int64_t{pick(100)};
      else if (m >= 2)
        e.metric = pick(400) * 0.25;
      if (pick(8))
        e.time_us = now - (pick(40) ? 0 : grid_us * 8 * pick(200));
      if (pick(3) == 0)
        e.ttl = ttls[pick(5)];
      for (auto* tag : tags)
        if (pick(3) == 0)
          e.tags.push_back(tag);
      if (pick(4) == 0)
        e.description = "d" + std::to_string(pick(3));
      if (pick(3) == 0)
        e.attributes.push_back({"env", pick(2) ? "prod" : "dev"});
      s.events.push_back(std::move(e));
    }
    out.push_back(std::move(s));
  }
  out.push_back(step{true, now + 30'000'000, {}});
  return out;
}

struct run_result {
  std::vector<record> out;
  std::string snapshot;                   // taken after `snapshot_after` steps, when asked
  std::vector<dmon::key_state> exported;  // export_keys() at the same moment
  std::vector<std::string> native_roots;
  uint64_t exceptions = 0;
};

// `owned`: batches go in through process_owned() (as a shard hands them, letting the last root
// move events into its sinks) on a copy of each step's events, instead of process().
run_result run(const std::string& module, const std::vector<step>& steps, bool native,
               const std::string& restore = {}, size_t from = 0, size_t snapshot_after = SIZE_MAX,
               const std::vector<dmon::key_state>* import = nullptr, bool owned = false) {
  run_result r;
  auto* out = &r.out;
  dmon::stream_sinks sinks;
  sinks.index = [out](dmon::event e) { out->push_back({"index", "", std::move(e)}); };
  sinks.store = [out](dmon::event e) { out->push_back({"store", "", std::move(e)}); };
  sinks.publish = [out](const std::string& t, dmon::event e) {
    out->push_back({"publish", t, std::move(e)});
  };
  sinks.reinject = [out](dmon::event e) { out->push_back({"reinject", "", std::move(e)}); };
  dmon::stream_host_config cfg;
  cfg.module = module;
  cfg.settings["native_streams"] = native ? "true" : "false";
  cfg.clock_us = [] { return fake_now_us; };
  fake_now_us = steps.at(from).at_us;
  auto host = dmon::stream_host::load(cfg, std::move(sinks));
  if (!host) {
    ADD_FAILURE() << host.error().message;
    return r;
  }
  r.native_roots = (*host)->native_stream_names();
  if (!restore.empty()) {
    EXPECT_GT((*host)->restore_state(restore), 0u);
  }
  if (import) {
    // A stale local copy of some keys first, as on a node that owned them before: the
    // import must replace it.
    fake_now_us = steps.at(from).at_us;
    (*host)->process(steps.at(0).events);
    if (!import->empty()) {
      EXPECT_GT((*host)->import_keys(*import), 0u);
    }
  }
  for (size_t i = from; i < steps.size(); ++i) {
    if (i == snapshot_after) {
      r.snapshot = (*host)->snapshot_state();
      r.exported = (*host)->export_keys();
    }
    fake_now_us = steps[i].at_us;
    if (steps[i].tick) {
      (*host)->tick(steps[i].at_us);
    } else if (owned) {
      auto batch = steps[i].events;
      (*host)->process_owned(batch);
    } else {
      (*host)->process(steps[i].events);
    }
  }
  r.exceptions = (*host)->counters().child_exceptions + (*host)->counters().root_exceptions;
  return r;
}

void expect_same(const std::vector<record>& python, const std::vector<record>& native,
                 const std::string& what) {
  size_t n = std::min(python.size(), native.size());
  for (size_t i = 0; i < n; ++i) {
    auto& a = python[i];
    auto& b = native[i];
    if (a.sink != b.sink || a.topic != b.topic || !(a.e == b.e)) {
      ADD_FAILURE() << what << ": output " << i << " differs\n  python: " << a.sink << " "
                    << a.topic << " " << dmon::json_codec::encode(a.e) << "\n  native: " << b.sink
                    << " " << b.topic << " " << dmon::json_codec::encode(b.e);
      return;
    }
  }
  EXPECT_EQ(python.size(), native.size()) << what << ": different number of outputs";
}

// Runs `body` through both paths on several random sequences; the native run must be native.
void check_checkpoints(const std::string& body, int seeds, int events);

// Returns how many runs gave some output; unless `may_be_silent`, every run must.
int check_equivalent(const std::string& body, int seeds = 4, int events = 400,
                     bool may_be_silent = false) {
  int spoke = 0;
  auto module = write_module(body);
  for (int seed = 1; seed <= seeds; ++seed) {
    auto steps = random_steps(static_cast<uint64_t>(seed) * 7919 + module_counter, events);
    auto py_run = run(module, steps, false);
    auto nat_run = run(module, steps, true);
    auto owned_run = run(module, steps, true, {}, 0, SIZE_MAX, nullptr, true);
    EXPECT_EQ(nat_run.native_roots, std::vector<std::string>{"stream"})
        << "did not compile natively: " << body;
    EXPECT_TRUE(py_run.native_roots.empty());
    if (::testing::Test::HasFailure())
      return spoke;
    if (!may_be_silent) {
      EXPECT_FALSE(py_run.out.empty()) << body << " gave no output to compare";
    }
    spoke += py_run.out.empty() ? 0 : 1;
    if (std::getenv("DMON_EQ_VERBOSE"))
      std::cerr << py_run.out.size() << " outputs: " << body << "\n";
    expect_same(py_run.out, nat_run.out, body + " (seed " + std::to_string(seed) + ")");
    expect_same(py_run.out, owned_run.out,
                body + " (seed " + std::to_string(seed) + ", owned batches)");
    EXPECT_EQ(py_run.exceptions, nat_run.exceptions) << body << ": exceptions reported";
    EXPECT_EQ(py_run.exceptions, owned_run.exceptions) << body << ": exceptions reported (owned)";
    if (::testing::Test::HasFailure())
      return spoke;
  }
  return spoke;
}

}  // namespace

TEST(native_equivalence, filters) {
  check_equivalent("stream = index()");
  check_equivalent(
      "stream = where('service = \"svc-1\" or metric > 50', index(), "
      "else_=with_('state', 'other', index()))");
  check_equivalent("stream = where('tagged \"a\" and not host = \"h1\"', index())");
  check_equivalent("stream = where(True, index(), else_=store())");
  check_equivalent(
      "stream = sdo(tagged_all(['a', 'b'], index()), tagged_any(['c', 'b'], store()))");
  check_equivalent(
      "stream = sdo(over(50, index()), under(20.5, store()), over(10.5, publish('t')))");
  check_equivalent("stream = sdo(expired(index()), not_expired(store()))");
}

// Several roots see every event in order; with owned batches only the last may take it, so
// the earlier roots, Python or native, must still see it whole.
TEST(native_equivalence, owned_batches_reach_every_root_whole) {
  const char* bodies[] = {
      "stream_a = sdo(index(), store())\nstream_b = where('metric > 30', index())",
      "stream_a = with_('state', 'a', index())\nstream_b = tag('b', index())\n"
      "stream_c = index()",
      // A Python root between native ones, and a native root last.
      "stream_a = index()\nstream_b = smap(lambda e: {**e, 'description': 'p'}, index())\n"
      "stream_c = rate(1, index())",
  };
  for (auto* body : bodies) {
    auto module = write_module(body);
    for (int seed = 1; seed <= 3; ++seed) {
      auto steps = random_steps(static_cast<uint64_t>(seed) * 104729 + module_counter, 300);
      auto py_run = run(module, steps, false);
      auto owned_run = run(module, steps, true, {}, 0, SIZE_MAX, nullptr, true);
      EXPECT_FALSE(owned_run.native_roots.empty()) << body;
      EXPECT_FALSE(py_run.out.empty()) << body;
      expect_same(py_run.out, owned_run.out, std::string{body} + " (owned batches)");
      if (HasFailure())
        return;
    }
  }
}

TEST(native_equivalence, query_strings_agree_with_the_python_query_engine) {
  const char* queries[] = {
      R"(host =~ "h%" and not service = "cpu")",
      R"(description ~= "d[12]" or tagged "b")",
      R"(metric >= 25.5 and metric < 75)",
      R"(metric = 3 or metric = 3.0 or metric != 50)",
      R"(ttl < 10 or ttl = nil)",
      R"(env = "prod" or env = nil)",
      R"(state != nil and not (state = "ok" or state = "warning"))",
      R"(time > 1000010.0 and host != "h0")",
      R"(service =~ "%-%")",
      R"(true and not false)",
      R"(metric)",
      R"(tagged "a" and tagged "c")",
  };
  for (auto* q : queries) {
    check_equivalent(std::string{"stream = where(r'''"} + q + "''', index(), else_=store())", 2,
                     300);
    if (HasFailure())
      return;
  }
}

TEST(native_equivalence, transforms) {
  check_equivalent(
      "stream = with_({'host': None, 'ttl': 30, 'tags': ['z'], 'rack': 'r1', 'n': 5, 'flag': True,"
      " 'env': None}, index())");
  check_equivalent("stream = with_('metric', 2.5, index())");
  check_equivalent(
      "stream = default({'state': 'def', 'ttl': 7, 'env': 'dflt', 'metric': 1.5, 'time': 5}, "
      "index())");
  check_equivalent("stream = sdo(tag(['x', 'a'], index()), untag(['a', 'c'], store()))");
  check_equivalent("stream = sdo(scale(2, index()), scale(0.5, store()))");
}

TEST(native_equivalence, stateful) {
  check_equivalent("stream = rate(1, index())");
  check_equivalent("stream = rate(2.5, with_('service', 'r', index()))");
  check_equivalent("stream = changed_state(index())");
  check_equivalent("stream = changed_state(index(), init='ok')");
  check_equivalent("stream = changed('env', index())");
  check_equivalent("stream = throttle(2, 1, index())");
  check_equivalent("stream = throttle(3, 2.5, index())");
  check_equivalent("stream = coalesce(1, index())");
  check_equivalent("stream = coalesce(2, sdo(with_('state', 'c', index()), store()))");
}

TEST(native_equivalence, by) {
  check_equivalent("stream = by('host', rate(1, index()))");
  check_equivalent("stream = by(['host', 'service'], lambda: throttle(1, 1, index()))");
  check_equivalent("stream = by('host', rate(1, index()), idle=3)");
  check_equivalent("stream = by('env', lambda: [changed('state', index()), rate(2, store())])");
  check_equivalent("stream = where('service = \"svc-1\"', by(['host'], lambda: rate(5, index())))");
}

TEST(native_equivalence, python_predicates_are_called_from_native_graphs) {
  check_equivalent("stream = where(lambda e: e.get('service') != 'cpu', index())");
  check_equivalent(
      "import re\nstream = where({'host': 'h1', 'state': re.compile('^c')}, rate(1, index()), "
      "else_=tag('no', index()))");
  check_equivalent(
      "stream = by('host', lambda: where(lambda e: e.get('metric', 0) > 20, throttle(1, 1, "
      "index())))");
  // Timers reach Python predicates too (under the GIL).
  check_equivalent("stream = rate(1, where(lambda e: e['metric'] > 10, index(), else_=store()))");
  // A predicate that raises is reported and its event dropped, on both paths alike.
  check_equivalent("stream = where(lambda e: e['metric'] > 50, store(), else_=index())");
}

TEST(native_equivalence, split_and_match) {
  check_equivalent(
      "stream = split('metric > 75', with_('state', 'critical', index()),\n"
      "               lambda e: e['metric'] > 40, with_('state', 'warning', index()),\n"
      "               {'host': 'h1'}, store(),\n"
      "               True, publish('t'))");
  check_equivalent("stream = split('service = \"cpu\"', rate(1, index()), tag('other', store()))");
  check_equivalent(
      "import re\nstream = sdo(match('state', 'ok', index()), match('env', None, store()),\n"
      "             match('state', {'warning', 'critical'}, publish('t')),\n"
      "             match(lambda e: e.get('host'), re.compile('[12]$'), tag('m', index())))");
}

TEST(native_equivalence, changed_decided_in_python_feeds_native_children) {
  check_equivalent("stream = changed(lambda e: (e.get('metric') or 0) > 50, rate(1, index()))");
  check_equivalent("stream = by('host', lambda: changed('metric', throttle(1, 1, index())))");
  check_equivalent("stream = changed('state', index(), init=0)");
  check_equivalent("stream = changed(lambda e: e['metric'] > 10, index())");  // raises: reported
  check_checkpoints(
      "stream = sdo(changed(lambda e: e.get('state'), rate(1, index())),\n"
      "             by('host', lambda: changed('tags', store())))",
      2, 400);
}

TEST(native_equivalence, python_subtrees_are_called_from_native_graphs) {
  check_equivalent(
      "stream = where('metric > 20', smap(lambda e: {**e, 'state': 'mapped'}, index()), "
      "else_=[store(), append([])])");
  check_equivalent(
      "stream = by('host', lambda: rate(1, smap(lambda e: {**e, 'description': 'r'}, index())))");
  check_equivalent(
      "stream = sdo(changed(lambda e: e.get('state'), index()), rate(2, store()), "
      "by('service', lambda: changed(lambda e: e.get('host'), publish('t'))))");
  check_equivalent(
      "stream = coalesce(1, smap(lambda es: [dict(e, description='c') for e in es], index()))");
  // A function child that raises is reported through its native parent, as in Python.
  check_equivalent("stream = where('host = \"h1\"', lambda e: 1 / 0, index())");
}

namespace {

// DMON_EQ_SEED=N explores other random graphs than the fixed ones CTest runs.
uint64_t seed_or(uint64_t fixed) {
  const char* s = std::getenv("DMON_EQ_SEED");
  return s ? std::strtoull(s, nullptr, 10) : fixed;
}

// A random graph of built-ins as Python source, depth-limited.
std::string random_graph(std::mt19937_64& rng, int depth) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  auto leaf = [&]() -> std::string {
    const char* leaves[] = {"index()", "store()", "publish('t')"};
    return leaves[pick(3)];
  };
  if (depth <= 0 || pick(5) == 0)
    return leaf();
  auto kid = [&] { return random_graph(rng, depth - 1); };
  switch (pick(20)) {
    case 0:
      return "where('metric > 30 or state = \"ok\"', " + kid() + ", else_=" + kid() + ")";
    case 1:
      return "by('host', " + kid() + ")";
    case 2:
      return "by(['host', 'service'], lambda: " + kid() + ")";
    case 3:
      return "rate(" + std::string{pick(2) ? "1" : "2.5"} + ", " + kid() + ")";
    case 4:
      return "changed_state(" + kid() + ")";
    case 5:
      return "throttle(2, 1.5, " + kid() + ")";
    case 6:
      return "coalesce(1, sdo(with_('description', 'co', index()), store()))";
    case 7:
      return "with_({'state': 'w', 'env': 'x'}, " + kid() + ")";
    case 8:
      return "default('ttl', 9, " + kid() + ")";
    case 9:
      return "tag('t1', " + kid() + ")";
    case 10:
      return "untag('a', " + kid() + ")";
    case 11:
      return "over(40, " + kid() + ")";
    case 12:
      return "scale(3, " + kid() + ")";
    case 13:
      return "sdo(" + kid() + ", " + kid() + ")";
    case 15:  // a Python predicate
      return "where(lambda e: (e.get('metric') or 0) > 40, " + kid() + ", else_=" + kid() + ")";
    case 16:  // a Python subtree below native streams
      return "smap(lambda e: {**e, 'description': 'sm'}, " + leaf() + ")";
    case 17:  // a stateful Python subtree
      return "changed(lambda e: e.get('state'), " + leaf() + ")";
    case 18:
      return "split('metric > 60', " + kid() + ", lambda e: e.get('host') == 'h2', " + kid() +
             ", " + kid() + ")";
    case 19:
      return "match('state', 'critical', " + kid() + ")";
    default:
      return "tagged_any(['a', 'b'], " + kid() + ")";
  }
}

}  // namespace

TEST(native_equivalence, random_compositions) {
  std::mt19937_64 rng{seed_or(20261129)};
  int spoke = 0;
  for (int i = 0; i < 200; ++i) {
    // A random graph may filter everything out (untag 'a', then tagged_any 'a').
    spoke += check_equivalent("stream = sdo(" + random_graph(rng, 4) + ")", 3, 300, true);
    if (HasFailure())
      return;
  }
  EXPECT_GT(spoke, 400) << "most random graphs must give output to compare";
}

TEST(native_equivalence, random_compositions_checkpoint_across_paths) {
  std::mt19937_64 rng{seed_or(7)};
  for (int i = 0; i < 60; ++i) {
    check_checkpoints("stream = sdo(" + random_graph(rng, 4) + ")", 1, 300);
    if (HasFailure())
      return;
  }
}

namespace {

// The one representation difference in saved events: Python keeps the empty tag list
// untag() leaves ("tags": []), the native event has no tags then. Both read back the same.
nlohmann::json without_empty_tags(nlohmann::json j) {
  if (j.is_object()) {
    if (auto it = j.find("tags"); it != j.end() && it->is_array() && it->empty())
      j.erase(it);
    for (auto& [k, v] : j.items())
      v = without_empty_tags(v);
  } else if (j.is_array()) {
    for (auto& v : j)
      v = without_empty_tags(v);
  }
  return j;
}

// Half a random sequence through each path, a checkpoint, then each checkpoint restored
// into each path for the second half: all four continuations must agree, and both paths
// must have saved the same state.
void check_checkpoints(const std::string& body, int seeds, int events) {
  auto module = write_module(body);
  for (int seed = 1; seed <= seeds; ++seed) {
    auto steps = random_steps(static_cast<uint64_t>(seed) * 31 + module_counter, events);
    size_t half = steps.size() / 2;
    auto py_first = run(module, steps, false, {}, 0, half);
    auto nat_first = run(module, steps, true, {}, 0, half);
    ASSERT_FALSE(nat_first.native_roots.empty()) << body;
    ASSERT_FALSE(py_first.snapshot.empty());
    ASSERT_FALSE(nat_first.snapshot.empty());
    EXPECT_EQ(without_empty_tags(nlohmann::json::parse(py_first.snapshot)),
              nlohmann::json::parse(nat_first.snapshot))
        << body << ": the two paths saved different state";
    if (nlohmann::json::parse(py_first.snapshot)["roots"].empty())
      continue;  // nothing stateful was saved: restoring restores nothing
    auto reference = run(module, steps, false, py_first.snapshot, half).out;
    expect_same(reference, run(module, steps, true, py_first.snapshot, half).out,
                body + ": python checkpoint restored natively");
    expect_same(reference, run(module, steps, false, nat_first.snapshot, half).out,
                body + ": native checkpoint restored in Python");
    expect_same(reference, run(module, steps, true, nat_first.snapshot, half).out,
                body + ": native checkpoint restored natively");
    if (::testing::Test::HasFailure())
      return;
  }
}

}  // namespace

TEST(native_equivalence, checkpoints_cross_between_paths) {
  check_checkpoints(
      "stream = sdo(by(['host'], lambda: rate(2, index())), changed_state(store()),\n"
      "             throttle(2, 1, publish('t')), coalesce(1, index()),\n"
      "             changed(lambda e: e.get('state'), with_('service', 'pc', index())),\n"
      "             by('service', lambda: changed(lambda e: e.get('host'), publish('u'))))",
      3, 400);
}

namespace {

// Per-key state moving between nodes: half a random sequence through each path, each path's
// export_keys() (the same slices), then each path's slices imported into a fresh instance of
// each path (which first ran some events of its own) for the second half: all four
// continuations must agree.
void check_key_moves(const std::string& body, int seeds, int events) {
  auto module = write_module(body);
  int moved = 0;
  for (int seed = 1; seed <= seeds; ++seed) {
    auto steps = random_steps(static_cast<uint64_t>(seed) * 53 + module_counter, events);
    size_t half = steps.size() / 2;
    auto py_first = run(module, steps, false, {}, 0, half);
    auto nat_first = run(module, steps, true, {}, 0, half);
    ASSERT_FALSE(nat_first.native_roots.empty()) << body;
    ASSERT_EQ(py_first.exported.size(), nat_first.exported.size()) << body;
    for (size_t i = 0; i < py_first.exported.size(); ++i) {
      auto& a = py_first.exported[i];
      auto& b = nat_first.exported[i];
      EXPECT_EQ(a.host, b.host);
      EXPECT_EQ(a.service, b.service);
      EXPECT_EQ(a.values, b.values);
      EXPECT_EQ(without_empty_tags(nlohmann::json::parse(a.json)), nlohmann::json::parse(b.json))
          << body << ": the two paths exported different state for a key";
    }
    moved += static_cast<int>(py_first.exported.size());
    auto reference = run(module, steps, false, {}, half, SIZE_MAX, &py_first.exported).out;
    expect_same(reference, run(module, steps, true, {}, half, SIZE_MAX, &py_first.exported).out,
                body + ": python slices imported natively");
    expect_same(reference, run(module, steps, false, {}, half, SIZE_MAX, &nat_first.exported).out,
                body + ": native slices imported in Python");
    expect_same(reference, run(module, steps, true, {}, half, SIZE_MAX, &nat_first.exported).out,
                body + ": native slices imported natively");
    if (::testing::Test::HasFailure())
      return;
  }
  EXPECT_GT(moved, 0) << body << ": no per-key state was exported";
}

}  // namespace

TEST(native_equivalence, key_state_moves_between_paths) {
  check_key_moves(
      "stream = sdo(changed_state(store()), by(['host', 'service'], lambda: rate(2, index())),\n"
      "             coalesce(1, index()), by(['host'], lambda: rate(3, publish('h'))),\n"
      "             by(['service', 'host'], lambda: changed(lambda e: e.get('metric'),\n"
      "                                                     publish('u'))))",
      3, 400);
}

// A regroup()'s forks move keyed by the regroup key (one value, or two held as host and
// service), and everything below regroup([]) with the empty key, the same on both paths.
TEST(native_equivalence, regroup_state_moves_between_paths) {
  check_key_moves(
      "stream = regroup(['service'], rate(2, index()))\n"
      "pair_stream = regroup(['service', 'state'], counter(publish('c')))\n"
      "total_stream = regroup([], rate(3, publish('t')), changed_state(publish('u')))",
      3, 400);
}

namespace {

dmon::event key_event(const std::string& host, const std::string& service, double metric) {
  dmon::event e;
  e.host = host;
  e.service = service;
  e.state = "ok";
  e.metric = metric;
  e.time_us = fake_now_us;
  return e;
}

std::vector<std::string> keys_of(const std::vector<dmon::key_state>& slices) {
  std::vector<std::string> out;
  for (auto& s : slices)
    out.push_back(s.host.value_or("-") + "/" + s.service.value_or("-"));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

// Replication rounds export only the keys whose state changed since the last round: by an
// event, by a timer inside the key's fork, or by an import; a full export still has every key.
TEST(native_equivalence, changed_export_has_exactly_the_changed_keys_on_both_paths) {
  using which = dmon::stream_host::key_export;
  auto module = write_module(
      "stream = sdo(changed_state(index()), by(['host', 'service'], lambda: rate(5, index())))\n"
      "other_stream = counter(index())");
  for (bool native : {false, true}) {
    SCOPED_TRACE(native ? "native" : "python");
    dmon::stream_sinks sinks;
    sinks.index = [](dmon::event) {};
    sinks.store = [](dmon::event) {};
    sinks.publish = [](const std::string&, dmon::event) {};
    sinks.reinject = [](dmon::event) {};
    dmon::stream_host_config cfg;
    cfg.module = module;
    cfg.settings["native_streams"] = native ? "true" : "false";
    cfg.clock_us = [] { return fake_now_us; };
    fake_now_us = base_us;
    auto host = dmon::stream_host::load(cfg, std::move(sinks));
    ASSERT_TRUE(host) << host.error().message;
    auto& h = **host;
    EXPECT_EQ(h.native_stream_names().empty(), !native);  // "stream" compiles natively
    h.process(std::vector<dmon::event>{key_event("a", "x", 1), key_event("b", "x", 1),
                                       key_event("c", "x", 1)});
    EXPECT_EQ(keys_of(h.export_keys(which::changed)),
              (std::vector<std::string>{"a/x", "b/x", "c/x"}));
    EXPECT_TRUE(h.export_keys(which::changed).empty());
    fake_now_us = base_us + 2'000'000;
    h.process(std::vector<dmon::event>{key_event("b", "x", 2)});
    auto round = h.export_keys(which::changed);
    ASSERT_EQ(keys_of(round), std::vector<std::string>{"b/x"});
    // The same slice a full export gives, which still has every key.
    auto all = h.export_keys(which::all);
    ASSERT_EQ(keys_of(all), (std::vector<std::string>{"a/x", "b/x", "c/x"}));
    for (auto& s : all) {
      if (s.host == "b") {
        EXPECT_EQ(nlohmann::json::parse(s.json), nlohmann::json::parse(round[0].json));
      }
    }
    // A timer in a fork (each key's rate flushes 5 s after its fork started) marks that key.
    fake_now_us = base_us + 5'000'000;
    h.tick(fake_now_us);
    EXPECT_EQ(keys_of(h.export_keys(which::changed)),
              (std::vector<std::string>{"a/x", "b/x", "c/x"}));
    fake_now_us = base_us + 6'000'000;
    h.process(std::vector<dmon::event>{key_event("d", "y", 1)});
    h.tick(fake_now_us);
    EXPECT_EQ(keys_of(h.export_keys(which::changed)), std::vector<std::string>{"d/y"});
    fake_now_us = base_us + 11'000'000;
    h.tick(fake_now_us);  // a, b, c flush at 10, d at 11
    EXPECT_EQ(keys_of(h.export_keys(which::changed)),
              (std::vector<std::string>{"a/x", "b/x", "c/x", "d/y"}));
    // Imported keys are marked (their new owner replicates them).
    std::vector<dmon::key_state> moved;
    for (auto& s : all)
      if (s.host == "a")
        moved.push_back(s);
    EXPECT_GT(h.import_keys(moved), 0u);
    EXPECT_EQ(keys_of(h.export_keys(which::changed)), std::vector<std::string>{"a/x"});
    EXPECT_TRUE(h.export_keys(which::changed).empty());
  }
}

TEST(native_equivalence, user_functions_keep_their_root_in_python) {
  auto module = write_module(
      "stream = where(lambda e: e.get('service') != 'cpu', index())\n"
      "native_stream = by('host', rate(1, index()))\n"
      "smap_stream = smap(lambda e: {**e, 'state': 'mapped'}, index())\n"
      "r = rate(1, index())\n"
      "shared_stream = where('host = \"h1\"', r, else_=r)\n");
  auto steps = random_steps(5, 300);
  auto py_run = run(module, steps, false);
  auto nat_run = run(module, steps, true);
  EXPECT_EQ(nat_run.native_roots, (std::vector<std::string>{"stream", "native_stream"}));
  // Roots of one event interleave the same way; timer output of native roots comes first in
  // a tick, so compare per sink as sorted multisets of JSON.
  auto sorted = [](const std::vector<record>& v) {
    std::vector<std::string> out;
    for (auto& r : v)
      out.push_back(r.sink + dmon::json_codec::encode(r.e));
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(sorted(py_run.out), sorted(nat_run.out));
}

TEST(native_equivalence, switch_off_runs_everything_in_python) {
  auto module = write_module("stream = index()");
  auto steps = random_steps(1, 10);
  setenv("DMON_NATIVE_STREAMS", "0", 1);
  auto r = run(module, steps, true);
  unsetenv("DMON_NATIVE_STREAMS");
  EXPECT_TRUE(r.native_roots.empty());
  EXPECT_EQ(run(module, steps, true).native_roots, std::vector<std::string>{"stream"});
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  module_dir =
      std::filesystem::temp_directory_path() / ("dmon-native-eq-" + std::to_string(::getpid()));
  std::filesystem::create_directories(module_dir);
  int rc;
  {
    dmon::python_host python{{DMON_PYTHON_DIR, module_dir.string()}};
    rc = RUN_ALL_TESTS();
  }
  std::filesystem::remove_all(module_dir);
  return rc;
}
