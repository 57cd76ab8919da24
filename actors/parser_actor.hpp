// Parser actors: decode what listeners read, hand events to the router, answer TCP frames in order.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "counters.hpp"
#include "error.hpp"
#include "interfaces.hpp"
#include "protobuf_codec.hpp"

namespace dmon {

/// The write side of one TCP connection, as the parser sees it. deliver() is
/// called from the parser's thread and must only queue the bytes for writing.
class reply_sink {
 public:
  virtual ~reply_sink() = default;
  /// Queues `bytes` (the framed replies to `frames` requests); closes after them if `close_after`.
  virtual void deliver(std::string bytes, size_t frames, bool close_after) = 0;
};

/// Answers a query string by calling the visitor with each matching index event
/// (the index and query layers plug in here) and returns the number of matches,
/// or ec::bad_query. The visitor only encodes, so a reply never needs a copy of
/// every match.
using query_visitor = std::function<void(const event&)>;
using query_function = std::function<result<size_t>(const std::string&, const query_visitor&)>;

struct tcp_parser_state {
  // Not an aggregate: CAF would construct an aggregate state from the actor pointer.
  tcp_parser_state() = default;

  /// Replies decided for one read's frames, waiting for the streams.
  struct batch {
    std::vector<std::string> errors;  // per frame: empty = ok
    std::vector<std::optional<std::string>> queries;
    std::string fatal;
  };
  std::shared_ptr<reply_sink> sink;
  router_actor router;
  query_function query;
  listener_counters* counters = nullptr;
  uint64_t next_seq = 0;
  uint64_t next_write = 0;
  /// Framed replies of a batch that is done but waits behind an earlier one.
  struct answer {
    std::string bytes;
    size_t frames = 0;
    bool close = false;
  };
  std::map<uint64_t, answer> finished;
  int64_t last_log_us = 0;
  protobuf_codec::request_decoder decoder;
  static inline const char* name = "dmon.parser.tcp";
};

/// One per TCP connection: decodes each frame, sends the events of a whole read
/// to the router in one batch, and answers every frame in order once the streams
/// processed them (ok=false with the reason for a frame that did not decode).
tcp_parser_actor::behavior_type tcp_parser(
    tcp_parser_actor::stateful_pointer<tcp_parser_state> self, std::shared_ptr<reply_sink> sink,
    router_actor router, query_function query, listener_counters* counters);

enum class datagram_format { protobuf, json };

struct udp_parser_state {
  // Not an aggregate: CAF would construct an aggregate state from the actor pointer.
  udp_parser_state() = default;

  router_actor router;
  datagram_format format = datagram_format::protobuf;
  listener_counters* counters = nullptr;
  size_t capacity = 0;
  size_t inflight_events = 0;
  int64_t last_log_us = 0;
  uint64_t unlogged = 0;
  protobuf_codec::request_decoder decoder;
  static inline const char* name = "dmon.parser.udp";
};

/// Decodes datagrams (no replies), drops and counts events past `capacity`
/// events in flight, and logs rejects at most once a second.
udp_parser_actor::behavior_type udp_parser(
    udp_parser_actor::stateful_pointer<udp_parser_state> self, router_actor router,
    datagram_format format, listener_counters* counters, size_t capacity);

}  // namespace dmon
