// Counters every component updates and the node reports: nothing is dropped or rejected silently.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace dmon {

class latency_histogram;

/// One listener's figures; written by its I/O thread and its parser, read by the node.
struct listener_counters {
  std::string name;                            // e.g. "tcp 127.0.0.1:5555"
  std::atomic<uint64_t> messages{0};           // frames or datagrams received
  std::atomic<uint64_t> bytes{0};              // payload bytes received
  std::atomic<uint64_t> events_accepted{0};    // events handed to the streams
  std::atomic<uint64_t> messages_rejected{0};  // frames/datagrams that did not decode
  std::atomic<uint64_t> too_large{0};          // frames/datagrams over the size limit
  std::atomic<uint64_t> dropped_events{0};     // events dropped because the queue was full
  std::atomic<uint64_t> dropped_datagrams{0};  // datagrams dropped before decoding (queue full)
  std::atomic<uint64_t> connections{0};        // open TCP connections
  std::atomic<uint64_t> queued{0};             // UDP datagrams waiting for the parser
  std::atomic<uint64_t> inflight_events{0};    // UDP events handed to the router, not yet done
  /// Frames read -> answers ready (decode, streams, index write); TCP only; may be null.
  latency_histogram* ack_latency = nullptr;
};

/// One shard's figures, published by its stream actor after every batch.
struct shard_counters {
  std::atomic<uint64_t> events_in{0};
  std::atomic<uint64_t> root_exceptions{0};
  std::atomic<uint64_t> child_exceptions{0};
  std::atomic<uint64_t> skipped{0};
  std::atomic<uint64_t> rebuilds{0};
  std::atomic<uint64_t> reinjected{0};
  std::atomic<uint64_t> indexed{0};
  std::atomic<uint64_t> index_failures{0};  // index/history writes the store refused
  /// Events regroup() sent to their new key's owner, regrouped events this shard ran, and
  /// those naming a regroup() its module lacks.
  std::atomic<uint64_t> regrouped_out{0};
  std::atomic<uint64_t> regrouped_in{0};
  std::atomic<uint64_t> regroup_unknown{0};
};

}  // namespace dmon
