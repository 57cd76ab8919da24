// micro_replica: a replica message's cost on the node that keeps it (replica_set::apply), against
// the layout before the replicas family (string keys into the `state` family's skip list).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include "event_encoding.hpp"
#include "index.hpp"
#include "micro_events.hpp"
#include "micro_store.hpp"
#include "replica_set.hpp"
#include "store.hpp"

namespace {

using namespace dmon;
using bench::process_cpu_ns;
using bench::temp_store;

constexpr size_t keys = 10'000;
// A keeper's replica message under load carries the copies of many ingests.
constexpr size_t message_size = 1'000;

// The next message: `message_size` keys of 100 hosts x 100 services in dmon-load's order, each
// copy newer than the last one of its key.
std::vector<event> next_message(size_t& at, int64_t& time) {
  std::vector<event> out;
  out.reserve(message_size);
  for (size_t i = 0; i < message_size; ++i, at = (at + 1) % keys)
    out.push_back(bench::load_event(at, ++time));
  return out;
}

template <class Apply>
void run(benchmark::State& state, Apply apply) {
  size_t at = 0;
  int64_t time = now_micros();
  auto cpu_before = process_cpu_ns();
  for (auto _ : state) {
    state.PauseTiming();
    auto m = next_message(at, time);
    state.ResumeTiming();
    if (!apply(m))
      state.SkipWithError("replica write failed");
  }
  auto items = state.iterations() * message_size;
  state.SetItemsProcessed(items);
  // Includes building the messages (paused for the wall time only) and RocksDB's threads.
  state.counters["process_cpu_ns_per_event"] =
      (process_cpu_ns() - cpu_before) / static_cast<double>(items);
}

// Now: replica_set::apply (coalescing by key hash, newer-wins, write_replicas into the
// `replicas` family, the private index).
void BM_replica_apply(benchmark::State& state) {
  temp_store s{"micro_replica"};
  replica_set r{s.db.get(), 60};
  run(state, [&](const std::vector<event>& m) { return bool(r.apply(m)); });
}
BENCHMARK(BM_replica_apply)->UseRealTime();

// Before (the code replica_set::apply had, kept here for the comparison): coalescing by key
// string, a prefixed key string and a value string per write, write_states into `state`.
void BM_state_family_apply(benchmark::State& state) {
  temp_store s{"micro_replica"};
  index mem{60};
  run(state, [&](const std::vector<event>& entries) {
    std::unordered_map<std::string, const event*> last;
    std::vector<std::string> order;
    for (auto& e : entries) {
      auto k = index_key::of(e).encode();
      auto [it, inserted] = last.try_emplace(k, &e);
      if (inserted)
        order.push_back(std::move(k));
      else
        it->second = &e;
    }
    std::vector<std::pair<std::string, std::string>> puts;
    std::vector<const event*> changed;
    for (auto& k : order) {
      auto& e = *last[k];
      auto held = mem.find(k);
      if (held && held->time_us > e.time_us)
        continue;
      puts.emplace_back(store::legacy_replica_prefix + k, storage_encoding::encode(e));
      changed.push_back(&e);
    }
    if (!s.db->write_states(puts, {}))
      return false;
    for (auto* e : changed)
      mem.insert(*e);
    return true;
  });
}
BENCHMARK(BM_state_family_apply)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
