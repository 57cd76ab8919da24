// Micro-benchmark of the router's key hash (every event pays it once on the way to its shard).
#include <benchmark/benchmark.h>

#include "micro_events.hpp"
#include "ownership.hpp"

namespace {

using namespace dmon;

void bm_key_hash(benchmark::State& state) {
  auto events = bench::sample_events(1000);
  size_t i = 0;
  for (auto _ : state) {
    auto h = ownership::key_hash(events[i++ % events.size()]);
    benchmark::DoNotOptimize(h);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_key_hash);

void bm_shard_of(benchmark::State& state) {
  auto events = bench::sample_events(1000);
  ownership own{static_cast<size_t>(state.range(0))};
  size_t i = 0;
  for (auto _ : state) {
    auto s = own.shard_of(events[i++ % events.size()]);
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_shard_of)->Arg(1)->Arg(4);

}  // namespace

BENCHMARK_MAIN();
