// Query evaluation: Riemann's (Clojure's) semantics for an AST node against a dmon::event.
#pragma once

#include <string_view>

#include "event.hpp"
#include "query/ast.hpp"

namespace dmon::query {

/// Returns whether `n` matches `e`. Never throws and keeps no state, so one
/// AST may be evaluated from many threads at once.
///
/// Field values: strings for host, service, state, description and
/// attributes; metric as stored (integer or float); `time` as float seconds
/// (`time_us / 1e6`, as Riemann decodes `time_micros`), so `time = 2` never
/// matches but `time = 2.0` may; ttl as a float; tags as a list, nil when
/// empty. Absent fields are nil.
bool evaluate(const node& n, const event& e);

/// Returns whether `s` matches the LIKE pattern split at its `%` wildcards
/// (`segments` as in like_node): anchored at both ends, `%` spans any run of
/// bytes including newlines.
bool like_match(std::string_view s, const std::vector<std::string>& segments);

}  // namespace dmon::query
