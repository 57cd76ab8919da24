// Event batches as compact bytes: what crosses nodes inside CAF messages, instead of CAF-serialized
// events.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "event.hpp"

/// Lossless binary encoding of `std::vector<dmon::event>` for node-to-node traffic.
///
/// Unlike Riemann protobuf (ttl is a float there, a metric is sent three ways), this
/// keeps every field exactly: absent vs empty strings, `time_us`, `ttl` as a double,
/// int vs double metrics, tags and attributes in order. The bytes are a plain
/// `std::string`, which CAF serializes natively, so event batches never need a CAF
/// type registration.
///
/// Layout (version 1): one version byte, a varint event count, then per event a
/// flag byte (bits 0-5: host, service, state, description, time_us, ttl present;
/// bits 6-7: metric kind 0 none, 1 int64, 2 double), the present strings as varint
/// length + bytes, time_us as a zigzag varint, ttl as 8 little-endian bytes, the
/// metric (zigzag varint or 8 bytes), a varint tag count and tags, a varint
/// attribute count and key/value pairs.
namespace dmon::event_batch_codec {

/// The format version written by encode() and the only one decode() accepts.
constexpr uint8_t version = 1;

/// Returns the bytes for `events`.
std::string encode(std::span<const event> events);

/// Appends the bytes for `events` to `out` (lets a sender reuse one buffer).
void encode_to(std::string& out, std::span<const event> events);

/// Decodes bytes written by encode(). Returns malformed_input, naming the offset
/// and what was wrong, for an unknown version, truncated input, a length or count
/// running past the end, an overlong varint, an unknown flag bit or trailing bytes;
/// never reads outside `bytes`.
result<std::vector<event>> decode(std::string_view bytes);

}  // namespace dmon::event_batch_codec
