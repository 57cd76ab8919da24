// Events and numbers as the JSON the Python streams' state() holds them in (dmon.state snapshots).
#pragma once

#include <nlohmann/json.hpp>

#include "error.hpp"
#include "event.hpp"

namespace dmon::native {

using json = nlohmann::json;

/// The event as the dict the Python path sees (only present fields; time in float seconds).
json event_to_json(const event& e);

/// Reads such a dict back (as event_convert::from_dict does: unknown top-level keys become
/// string attributes, null values are skipped); wrong_type naming the field otherwise.
result<event> event_from_json(const json& j);

/// A Python int or float (never a bool), kept exactly as Python keeps it.
struct number {
  bool is_int = true;
  int64_t i = 0;
  double d = 0;

  double as_double() const { return is_int ? static_cast<double>(i) : d; }
  json to_json() const { return is_int ? json(i) : json(d); }
  /// Python `a + b` (int + int stays int).
  friend number operator+(const number& a, const number& b);
  /// Reads a JSON number; nullopt for anything else (bools included).
  static std::optional<number> from_json(const json& j);
};

/// Python's exact comparison of an event metric with a number: -1, 0, 1, or 2 when
/// unordered (NaN).
int compare(const metric_value& m, const number& x);

}  // namespace dmon::native
