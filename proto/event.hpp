// dmon::event: the one in-memory event every layer passes around (Riemann's fields, all optional).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace dmon {

/// A custom key/value pair; Riemann keeps attribute values as strings.
struct attribute {
  std::string key;
  std::string value;
  friend bool operator==(const attribute&, const attribute&) = default;
};

/// A metric is absent, an integer (from `metric_sint64`) or a double (`metric_d`/`metric_f`).
using metric_value = std::variant<std::monostate, int64_t, double>;

/// One monitoring event. Every field may be absent, as in Riemann; an absent
/// string is different from an empty one (both are legal key parts).
struct event {
  // User-provided, so value-initialization (`event{}`, vector::emplace_back()) constructs the
  // fields without first zeroing all 256 bytes: that memset was a fifth of decode_request.
  event() noexcept {}

  std::optional<std::string> host;
  std::optional<std::string> service;
  std::optional<std::string> state;
  std::optional<std::string> description;
  /// Unix time in microseconds.
  std::optional<int64_t> time_us;
  /// Seconds the event stays valid.
  std::optional<double> ttl;
  metric_value metric;
  std::vector<std::string> tags;
  std::vector<attribute> attributes;

  bool has_metric() const { return !std::holds_alternative<std::monostate>(metric); }

  /// Returns the metric as a double, or nullopt when absent.
  std::optional<double> metric_as_double() const {
    if (auto* i = std::get_if<int64_t>(&metric))
      return static_cast<double>(*i);
    if (auto* d = std::get_if<double>(&metric))
      return *d;
    return std::nullopt;
  }

  /// Returns the string field `name` (host, service, state or description; any other name
  /// is an attribute), or nullptr when absent: how `by`, `regroup` and query keys read fields.
  const std::string* find_string(std::string_view name) const {
    const std::optional<std::string>* core = name == "host"          ? &host
                                             : name == "service"     ? &service
                                             : name == "state"       ? &state
                                             : name == "description" ? &description
                                                                     : nullptr;
    if (core)
      return *core ? &**core : nullptr;
    return find_attribute(name);
  }

  /// Returns the value of attribute `key`, or nullptr.
  const std::string* find_attribute(std::string_view key) const {
    for (auto& a : attributes)
      if (a.key == key)
        return &a.value;
    return nullptr;
  }

  friend bool operator==(const event&, const event&) = default;
};

/// Returns the current wall-clock time in unix microseconds.
int64_t now_micros();

}  // namespace dmon
