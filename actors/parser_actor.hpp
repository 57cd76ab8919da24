// Parser actors: decode what UDP listeners receive; route and render what TCP connections hand
// over.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "counters.hpp"
#include "error.hpp"
#include "ingest_targets.hpp"
#include "interfaces.hpp"
#include "protobuf_codec.hpp"
#include "tcp_replies.hpp"

namespace dmon {

/// The write side of one TCP connection, as its parser actor sees it. deliver() is called
/// from the parser's thread, or the thread that answered a cluster-wide query, and must only
/// queue the bytes for writing.
class reply_sink {
 public:
  virtual ~reply_sink() = default;
  /// The framed answers of the connection's batch `seq` (reply_order's numbering). Called
  /// from any thread.
  virtual void deliver(uint64_t seq, std::string bytes) = 0;
};

struct tcp_parser_state {
  // Not an aggregate: CAF would construct an aggregate state from the actor pointer.
  tcp_parser_state() = default;

  std::shared_ptr<reply_sink> sink;
  query_function query;
  static inline const char* name = "dmon.parser.tcp";
};

/// One per TCP connection, for what its I/O thread must not do itself (the connection
/// decodes and hands events to the local shards, or in a cluster to the router, directly):
/// renders the answers of batches with queries once their events ran. Alone it reads the
/// index itself; in a cluster it asks every member and the answer is rendered when the last
/// member answered or the query timed out, without this actor (or any thread) waiting.
/// `deliver` may therefore be called from another thread.
tcp_parser_actor::behavior_type tcp_parser(
    tcp_parser_actor::stateful_pointer<tcp_parser_state> self, std::shared_ptr<reply_sink> sink,
    query_function query);

enum class datagram_format { protobuf, json };

struct udp_parser_state {
  // Not an aggregate: CAF would construct an aggregate state from the actor pointer.
  udp_parser_state() = default;

  ingest_targets to;
  datagram_format format = datagram_format::protobuf;
  listener_counters* counters = nullptr;
  size_t capacity = 0;
  int64_t last_log_us = 0;
  uint64_t unlogged = 0;
  protobuf_codec::request_decoder decoder;
  static inline const char* name = "dmon.parser.udp";
};

/// Decodes datagrams (no replies), drops and counts events past `capacity`
/// events in flight (counters->inflight_events), and logs rejects at most once a second.
/// While the node is alone a batch goes straight to the shards, whose answer (a ticket)
/// settles the counters from their threads; in a cluster it goes through the router.
udp_parser_actor::behavior_type udp_parser(
    udp_parser_actor::stateful_pointer<udp_parser_state> self, ingest_targets to,
    datagram_format format, listener_counters* counters, size_t capacity);

}  // namespace dmon
