// JSON event codec: dmon's original datagram format, with every Riemann field optional.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "error.hpp"
#include "event.hpp"

namespace dmon::json_codec {

/// Decodes one JSON object: {"host","service","state","description": string,
/// "time": unix seconds (number) or ISO-8601 string, "ttl","metric": number,
/// "tags": [string], "attributes": {string: string|number|bool}}. Unknown
/// top-level keys become attributes. Missing time becomes `now_us`.
/// Returns malformed_input for bad JSON or a non-object, wrong_type naming the
/// field for a value of the wrong type.
result<event> decode(std::string_view text, int64_t now_us);

/// Parses a time given as unix seconds ("1700000000.5") or ISO-8601
/// ("2026-01-01T00:00:00Z", offsets allowed) into unix microseconds.
std::optional<int64_t> parse_time(std::string_view text);

/// Encodes an event as a JSON object; `time` as an ISO-8601 UTC string when
/// `iso_time`, else unix seconds. With `flat_attributes` it writes Riemann's HTTP form:
/// attributes as top-level keys and every core key present, null when absent.
std::string encode(const event& e, bool iso_time = false, bool flat_attributes = false);

}  // namespace dmon::json_codec
