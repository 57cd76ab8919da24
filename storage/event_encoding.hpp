// The compact byte encoding of a dmon::event inside RocksDB values (index and history).
#pragma once

#include <string>
#include <string_view>

#include "error.hpp"
#include "event.hpp"

namespace dmon::storage_encoding {

/// Appends `e` to `out` in dmon's storage encoding: a version byte, a presence
/// bitmap, then only the fields present. Every field round-trips exactly:
/// absent and empty strings stay distinct, ttl and a double metric keep their
/// bits (NaN included), an integer metric stays an integer. Smaller and faster
/// than Riemann's protobuf, which cannot tell an absent string from an empty one.
void encode(const event& e, std::string& out);

/// Returns `e` encoded, as `encode(e, out)` into an empty string.
std::string encode(const event& e);

/// Decodes bytes written by `encode`. Returns `ec::storage_failure` naming the
/// defect when the bytes are truncated, have trailing garbage or an unknown
/// version (a corrupt value, or one written by a newer dmon).
result<event> decode(std::string_view bytes);

/// Appends `v` as 8 bytes that sort like the signed value (big-endian, sign bit
/// flipped), so RocksDB's bytewise order is numeric order.
void put_ordered_i64(std::string& out, int64_t v);

/// Reads 8 bytes written by `put_ordered_i64` from the front of `bytes`.
/// Precondition: `bytes.size() >= 8`.
int64_t get_ordered_i64(std::string_view bytes);

}  // namespace dmon::storage_encoding
