// Riemann protobuf codec: Msg bytes <-> dmon::event, following Riemann's codec rules.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "event.hpp"

class Msg;  // riemann.pb.h

namespace dmon::protobuf_codec {

/// What one request Msg carries.
struct request {
  std::vector<event> events;
  /// Present when the Msg had a `query` (the string may be empty).
  std::optional<std::string> query;
};

/// Decodes one Msg. Events without a time get `now_us`. Metric precedence is
/// sint64, then d, then f; time_micros wins over time; attributes named
/// host/service/state/description/tags/time/ttl/metric are ignored, as in Riemann.
/// Returns malformed_input when the bytes are not a valid Msg.
result<request> decode_request(std::string_view bytes, int64_t now_us);

/// Decodes request Msgs one after another into a caller's vector. The usual Msg is read
/// straight into events (riemann_wire.hpp); anything else goes through libprotobuf, reusing
/// one parsed Msg (its events and strings keep their memory from frame to frame). Both give
/// the same events (tested side by side). One per connection or thread; not thread-safe.
class request_decoder {
 public:
  /// `direct`: false decodes every Msg with libprotobuf (the reference, for tests).
  explicit request_decoder(bool direct = true);
  ~request_decoder();
  request_decoder(const request_decoder&) = delete;
  request_decoder& operator=(const request_decoder&) = delete;

  /// Decodes one Msg as decode_request does, appending its events to `events` (nothing when
  /// it fails), and returns its query (nullopt when it had none).
  result<std::optional<std::string>> decode(std::string_view bytes, int64_t now_us,
                                            std::vector<event>& events);

 private:
  std::unique_ptr<::Msg> msg_;
  bool direct_;
};

/// Encodes a reply Msg: ok, optional error, optional events.
std::string encode_reply(bool ok, std::string_view error_message = {},
                         std::span<const event> events = {});

/// Encodes a request Msg carrying `events` (used by clients, tests and benchmarks).
/// Always writes metric_f plus metric_sint64 or metric_d, and both time and time_micros.
std::string encode_events(std::span<const event> events);

/// Encodes a request Msg carrying a query.
std::string encode_query(std::string_view query);

/// Decoded reply, for clients and tests.
struct reply {
  bool ok = false;
  std::string error;
  std::vector<event> events;
};

/// Decodes a reply Msg.
result<reply> decode_reply(std::string_view bytes);

}  // namespace dmon::protobuf_codec
