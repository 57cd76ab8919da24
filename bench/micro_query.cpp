// Micro-benchmarks of the query language: compiling a query and evaluating it on an event.
#include <benchmark/benchmark.h>

#include "micro_events.hpp"
#include "query/query.hpp"

namespace {

using namespace dmon;

const char* const queries[] = {
    "service = \"svc-1\"",
    "state = \"warning\" or state = \"critical\"",
    "host =~ \"host-1%\" and metric > 50 and not tagged \"maintenance\"",
    "service ~= \"^svc-[0-9]+$\"",
};

void bm_query_parse(benchmark::State& state) {
  const char* text = queries[state.range(0)];
  for (auto _ : state) {
    auto p = query::parse(text);
    benchmark::DoNotOptimize(p);
  }
  state.SetLabel(text);
}
BENCHMARK(bm_query_parse)->DenseRange(0, 3);

void bm_query_matches(benchmark::State& state) {
  const char* text = queries[state.range(0)];
  auto p = query::parse(text);
  if (!p) {
    state.SkipWithError(p.error().message.c_str());
    return;
  }
  auto events = bench::sample_events(1000);
  size_t i = 0, hits = 0;
  for (auto _ : state)
    hits += p->matches(events[i++ % events.size()]);
  benchmark::DoNotOptimize(hits);
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(text);
}
BENCHMARK(bm_query_matches)->DenseRange(0, 3);

}  // namespace

BENCHMARK_MAIN();
