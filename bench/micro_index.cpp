// micro_index: the storage actor's index path per event (commit group, store write, memory),
// with traffic shaped like dmon-load's (100 hosts x 100 services, 100-event batches in key order).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "commit_group.hpp"
#include "event_encoding.hpp"
#include "index.hpp"
#include "micro_events.hpp"
#include "micro_store.hpp"
#include "store.hpp"

namespace {

using namespace dmon;
using bench::process_cpu_ns;
using bench::temp_store;

constexpr size_t keys = 10'000;
constexpr size_t batch_size = 100;

// The events dmon-load sends, in its order: key k is host-(k/100), svc-(k%100).
const std::vector<event>& pool() {
  static const std::vector<event> p = [] {
    std::vector<event> out;
    out.reserve(keys);
    for (size_t k = 0; k < keys; ++k)
      out.push_back(bench::load_event(k, now_micros()));
    return out;
  }();
  return p;
}

// The next batch, copied as the shard's index sink copies each event it is handed.
std::vector<event> next_batch(size_t& at) {
  auto& p = pool();
  std::vector<event> out;
  out.reserve(batch_size);
  for (size_t i = 0; i < batch_size; ++i, at = (at + 1) % keys)
    out.push_back(p[at]);
  return out;
}

using group_type = commit_group<int>;

group_type make_group() {
  group_type::limits l;
  l.max_events = 1'000'000;
  return group_type{l};
}

// Baseline: only the sink's copies of the events (included in every benchmark below).
void BM_copy_batches(benchmark::State& state) {
  size_t at = 0;
  for (auto _ : state) {
    auto b = next_batch(at);
    benchmark::DoNotOptimize(b.data());
  }
  state.SetItemsProcessed(state.iterations() * batch_size);
}
BENCHMARK(BM_copy_batches);

// Coalescing alone: `range(0)` batches added to a group, then taken.
void BM_group_coalesce(benchmark::State& state) {
  auto g = make_group();
  size_t at = 0;
  auto now = std::chrono::steady_clock::now();
  for (auto _ : state) {
    for (int64_t b = 0; b < state.range(0); ++b)
      g.add(next_batch(at), {}, 0, now);
    auto c = g.take();
    benchmark::DoNotOptimize(c.index.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0) * batch_size);
}
BENCHMARK(BM_group_coalesce)->Arg(1)->Arg(8);

// The whole path: batches into a group, the group into RocksDB (WAL, memtable) and the memory.
void BM_commit_path(benchmark::State& state) {
  temp_store s{"micro_index"};
  auto g = make_group();
  size_t at = 0;
  auto now = std::chrono::steady_clock::now();
  auto cpu_before = process_cpu_ns();
  // The slowest store write: a stall (a checkpoint holding the lock, a throttled write())
  // would show here long before it moves the mean.
  std::chrono::steady_clock::duration slowest{};
  for (auto _ : state) {
    for (int64_t b = 0; b < state.range(0); ++b)
      g.add(next_batch(at), {}, 0, now);
    auto c = g.take();
    auto started = std::chrono::steady_clock::now();
    if (!s.db->apply_latest(c.index))
      state.SkipWithError("apply_latest failed");
    slowest = std::max(slowest, std::chrono::steady_clock::now() - started);
  }
  auto items = state.iterations() * state.range(0) * batch_size;
  state.SetItemsProcessed(items);
  state.counters["slowest_write_us"] = std::chrono::duration<double, std::micro>(slowest).count();
  // Background flushes and compactions cost CPU too, on a machine with two cores.
  state.counters["process_cpu_ns_per_event"] =
      (process_cpu_ns() - cpu_before) / static_cast<double>(items);
}
BENCHMARK(BM_commit_path)->Arg(1)->Arg(8)->UseRealTime();

// The in-memory index alone: one commit of 100 changes (key hashes computed outside the loop).
void BM_memory_commit(benchmark::State& state) {
  index idx{60};
  auto& p = pool();
  std::vector<uint64_t> hashes;
  for (auto& e : p)
    hashes.push_back(index_key::hash(e));
  size_t at = 0;
  std::vector<index::change> changes;
  for (auto _ : state) {
    changes.clear();
    for (size_t i = 0; i < batch_size; ++i, at = (at + 1) % keys)
      changes.push_back({hashes[at], p[at]});
    idx.commit(changes);
  }
  state.SetItemsProcessed(state.iterations() * batch_size);
}
BENCHMARK(BM_memory_commit);

// The key hash of one event (host and service), as the commit group takes it per write.
void BM_key_hash(benchmark::State& state) {
  auto& p = pool();
  size_t at = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(index_key::hash(p[at]));
    at = (at + 1) % keys;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_key_hash);

// The value encoding into a reused buffer.
void BM_encode(benchmark::State& state) {
  auto& p = pool();
  std::string buf;
  size_t at = 0;
  for (auto _ : state) {
    buf.clear();
    storage_encoding::encode(p[at], buf);
    benchmark::DoNotOptimize(buf.data());
    at = (at + 1) % keys;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_encode);

}  // namespace

BENCHMARK_MAIN();
