// Micro-benchmarks of the Python bridge (event <-> dict) and of the native engine that skips it.
#include <benchmark/benchmark.h>
#include <pybind11/embed.h>

#include "event_convert.hpp"
#include "micro_events.hpp"
#include "native/engine.hpp"

namespace {

using namespace dmon;
namespace py = pybind11;

// Each benchmark holds the GIL for its whole loop, as the stream actor does for a batch.
void bm_to_dict(benchmark::State& state) {
  auto events = bench::sample_events(1000);
  size_t i = 0;
  for (auto _ : state) {
    py::dict d = event_convert::to_dict(events[i++ % events.size()]);
    benchmark::DoNotOptimize(d.ptr());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_to_dict);

void bm_from_dict(benchmark::State& state) {
  auto events = bench::sample_events(1000);
  std::vector<py::dict> dicts;
  for (auto& e : events)
    dicts.push_back(event_convert::to_dict(e));
  size_t i = 0;
  for (auto _ : state) {
    auto e = event_convert::from_dict(dicts[i++ % dicts.size()]);
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_from_dict);

// Issue 10's where-lambda scenario per event, as native_graph's predicate runs it: the event
// becomes a dict and `lambda e: e["service"] != "none"` is called on it. dmon-load's traffic:
// 10,000 keys (100 hosts x 100 services), one time per frame of 100 events.
void bm_where_lambda(benchmark::State& state) {
  py::dict scope;
  py::exec("pred = lambda e: e[\"service\"] != \"none\"", scope);
  py::object pred = scope["pred"];
  std::vector<event> events;
  for (size_t k = 0; k < 10'000; ++k)
    events.push_back(bench::load_event(k, 1'700'000'000'000'000 + static_cast<int64_t>(k / 100)));
  size_t i = 0, passed = 0;
  for (auto _ : state) {
    py::object d = event_convert::to_dict(events[i++ % events.size()]);
    PyObject* r = PyObject_CallOneArg(pred.ptr(), d.ptr());
    passed += r && PyObject_IsTrue(r) == 1;
    Py_XDECREF(r);
  }
  benchmark::DoNotOptimize(passed);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_where_lambda);

// The floor under any Python stream: one call of a trivial generator's send() per event.
void bm_generator_send(benchmark::State& state) {
  py::dict scope;
  py::exec(R"(
def sink():
    while True:
        yield
g = sink()
next(g)
)",
           scope);
  py::object send = scope["g"].attr("send");
  py::dict d = event_convert::to_dict(bench::sample_events(1).front());
  for (auto _ : state) {
    PyObject* r = PyObject_CallOneArg(send.ptr(), d.ptr());
    Py_XDECREF(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_generator_send);

// The native path for issue 10's scenarios, no Python and no index: what one event costs
// in the engine (the sink only counts).
void bm_native(benchmark::State& state, const char* desc) {
  uint64_t sunk = 0;
  native::sinks out;
  out.index = [&](const event&) { ++sunk; };
  native::engine eng{[] { return static_cast<double>(now_micros()) / 1e6; }, out};
  auto root = eng.add("stream", native::json::parse(desc));
  if (!root) {
    state.SkipWithError(root.error().message.c_str());
    return;
  }
  auto events = bench::sample_events(1000);
  size_t i = 0;
  for (auto _ : state)
    eng.push(*root, events[i++ % events.size()]);
  benchmark::DoNotOptimize(sunk);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(bm_native, index, R"({"stream":"index"})");
BENCHMARK_CAPTURE(bm_native, where_by_rate, R"({"stream":"where","query":"service = \"svc-1\"",
  "children":[{"stream":"by","fields":["host"],"children":[{"stream":"factory","children":[
  {"stream":"rate","interval":5,"children":[{"stream":"index"}]}]}]}],"else":[]})");
BENCHMARK_CAPTURE(bm_native, by_host_service_changed, R"({"stream":"by","fields":["host","service"],
  "children":[{"stream":"changed","field":"state","pairs":false,"init":null,
  "children":[{"stream":"index"}]}]})");

}  // namespace

int main(int argc, char** argv) {
  py::scoped_interpreter python;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
