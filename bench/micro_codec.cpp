// Micro-benchmarks of the wire path: Riemann protobuf decode/encode and TCP frame splitting.
#include <benchmark/benchmark.h>

#include "frame_decoder.hpp"
#include "micro_events.hpp"
#include "protobuf_codec.hpp"
#include "riemann.pb.h"

namespace {

using namespace dmon;

void bm_decode_request(benchmark::State& state) {
  auto bytes = protobuf_codec::encode_events(bench::sample_events(state.range(0)));
  for (auto _ : state) {
    auto req = protobuf_codec::decode_request(bytes, 0);
    benchmark::DoNotOptimize(req);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(bm_decode_request)->Arg(1)->Arg(100);

// What dmon-ackd does per frame: libprotobuf alone, into a reused Msg, no dmon::event.
void bm_libprotobuf_parse(benchmark::State& state) {
  auto bytes = protobuf_codec::encode_events(bench::sample_events(state.range(0)));
  Msg msg;
  for (auto _ : state) {
    bool ok = msg.ParseFromString(bytes);
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(bm_libprotobuf_parse)->Arg(1)->Arg(100);

void bm_encode_events(benchmark::State& state) {
  auto events = bench::sample_events(state.range(0));
  for (auto _ : state) {
    auto bytes = protobuf_codec::encode_events(events);
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(bm_encode_events)->Arg(1)->Arg(100);

void bm_encode_reply_ok(benchmark::State& state) {
  for (auto _ : state) {
    auto bytes = protobuf_codec::encode_reply(true);
    benchmark::DoNotOptimize(bytes);
  }
}
BENCHMARK(bm_encode_reply_ok);

// One read's worth of frames (64 KiB-ish) split at once, as a busy connection sees them.
void bm_frame_decoder(benchmark::State& state) {
  auto payload = protobuf_codec::encode_events(bench::sample_events(state.range(0)));
  auto framed = frame_decoder::frame(payload);
  std::string chunk;
  while (chunk.size() < 65536)
    chunk += framed;
  size_t frames = chunk.size() / framed.size();
  std::vector<std::string> out;
  frame_decoder dec{1 << 24};
  for (auto _ : state) {
    out.clear();
    auto n = dec.feed(chunk, out);
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(frames));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(chunk.size()));
}
BENCHMARK(bm_frame_decoder)->Arg(1)->Arg(100);

}  // namespace

BENCHMARK_MAIN();
