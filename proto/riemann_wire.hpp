// dmon::riemann_wire: the usual Riemann request Msg decoded straight into events, without
// libprotobuf.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "event.hpp"

namespace dmon::riemann_wire {

/// Decodes a request Msg made only of what clients send (events with their known fields in
/// their wire types, a query, ok/error) into `events` and `query`, with protobuf_codec's
/// rules (time_micros over time, metric precedence, core-named attributes dropped, `now_us`
/// for events without a time). Returns false, appending nothing, for anything else: an
/// unknown or deprecated field, a field in an unexpected wire type, a second query, an
/// attribute without its required key, or bytes that do not parse. The caller then decodes
/// with libprotobuf, which decides exactly what such a message means or why it is invalid.
bool decode_request(std::string_view bytes, int64_t now_us, std::vector<event>& events,
                    std::optional<std::string>& query);

}  // namespace dmon::riemann_wire
