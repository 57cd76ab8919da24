// JSON event codec (nlohmann::json): the original dmon datagram format and Riemann's HTTP JSON.
#include "json_codec.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

namespace dmon::json_codec {

namespace {

using json = nlohmann::json;

const char* type_name(const json& j) {
  return j.type_name();
}

error wrong_type(const std::string& field, const char* expected, const json& got) {
  return error{ec::wrong_type, "field '" + field + "' must be " + expected + ", got " +
                                   type_name(got) + " " + got.dump()};
}

// Parses "YYYY-MM-DDTHH:MM:SS[.frac][Z|+HH:MM|-HH:MM]" into unix microseconds.
std::optional<int64_t> parse_iso8601(const std::string& s) {
  int y, mo, d, h, mi, sec, n = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
      n != 19)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  int64_t micros = static_cast<int64_t>(timegm(&tm)) * 1'000'000;
  size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    int64_t scale = 100'000;
    for (++i; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) {
      micros += (s[i] - '0') * scale;
      scale /= 10;
    }
  }
  if (i == s.size())
    return micros;  // no zone: UTC, as Riemann assumes
  if (s[i] == 'Z' && i + 1 == s.size())
    return micros;
  int oh, om;
  if ((s[i] == '+' || s[i] == '-') && s.size() == i + 6 &&
      std::sscanf(s.c_str() + i + 1, "%2d:%2d", &oh, &om) == 2) {
    int64_t offset = (oh * 3600 + om * 60) * int64_t{1'000'000};
    return s[i] == '+' ? micros - offset : micros + offset;
  }
  return std::nullopt;
}

std::string format_iso8601(int64_t micros) {
  std::time_t secs = static_cast<std::time_t>(std::floor(micros / 1e6));
  int millis = static_cast<int>((micros - int64_t{secs} * 1'000'000) / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

// Attribute values are strings in Riemann; scalars are stringified as Riemann's codec does.
std::optional<std::string> scalar_to_string(const json& v) {
  if (v.is_string())
    return v.get<std::string>();
  if (v.is_boolean())
    return v.get<bool>() ? "true" : "false";
  if (v.is_number())
    return v.dump();
  return std::nullopt;
}

std::optional<error> read_string(const json& obj, const char* key,
                                 std::optional<std::string>& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null())
    return std::nullopt;
  if (!it->is_string())
    return wrong_type(key, "a string", *it);
  out = it->get<std::string>();
  return std::nullopt;
}

}  // namespace

std::optional<int64_t> parse_time(std::string_view text) {
  std::string s{text};
  if (auto iso = parse_iso8601(s))
    return iso;
  char* end = nullptr;
  double secs = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(secs))
    return std::nullopt;
  return static_cast<int64_t>(std::llround(secs * 1e6));
}

result<event> decode(std::string_view text, int64_t now_us) {
  auto doc = json::parse(text, nullptr, false);
  if (doc.is_discarded())
    return error{ec::malformed_input,
                 "datagram of " + std::to_string(text.size()) +
                     " bytes is not valid JSON; send one JSON object per datagram"};
  if (!doc.is_object())
    return error{ec::malformed_input,
                 std::string{"expected a JSON object per event, got "} + type_name(doc)};
  event e;
  for (const char* key : {"host", "service", "state", "description"}) {
    std::optional<std::string>* slot = key[0] == 'h'   ? &e.host
                                       : key[0] == 's' ? (key[1] == 'e' ? &e.service : &e.state)
                                                       : &e.description;
    if (auto err = read_string(doc, key, *slot))
      return *err;
  }
  if (auto it = doc.find("time"); it != doc.end() && !it->is_null()) {
    if (it->is_number()) {
      double secs = it->get<double>();
      if (!std::isfinite(secs))
        return wrong_type("time", "a finite number", *it);
      e.time_us = static_cast<int64_t>(std::llround(secs * 1e6));
    } else if (it->is_string()) {
      auto t = parse_iso8601(it->get<std::string>());
      if (!t)
        return error{ec::wrong_type,
                     "field 'time' is not ISO-8601 (e.g. 2026-01-01T00:00:00Z): " + it->dump()};
      e.time_us = *t;
    } else {
      return wrong_type("time", "unix seconds or an ISO-8601 string", *it);
    }
  } else {
    e.time_us = now_us;
  }
  if (auto it = doc.find("ttl"); it != doc.end() && !it->is_null()) {
    if (!it->is_number())
      return wrong_type("ttl", "a number of seconds", *it);
    e.ttl = it->get<double>();
  }
  if (auto it = doc.find("metric"); it != doc.end() && !it->is_null()) {
    if (it->is_number_integer() && !(it->is_number_unsigned() && it->get<uint64_t>() > INT64_MAX))
      e.metric = it->get<int64_t>();
    else if (it->is_number())
      e.metric = it->get<double>();
    else
      return wrong_type("metric", "a number", *it);
  }
  if (auto it = doc.find("tags"); it != doc.end() && !it->is_null()) {
    if (!it->is_array())
      return wrong_type("tags", "an array of strings", *it);
    for (auto& t : *it) {
      if (!t.is_string())
        return wrong_type("tags", "an array of strings", t);
      e.tags.push_back(t.get<std::string>());
    }
  }
  if (auto it = doc.find("attributes"); it != doc.end() && !it->is_null()) {
    if (!it->is_object())
      return wrong_type("attributes", "an object of strings", *it);
    for (auto& [k, v] : it->items()) {
      if (v.is_null())
        continue;
      auto s = scalar_to_string(v);
      if (!s)
        return wrong_type("attributes." + k, "a string, number or boolean", v);
      e.attributes.push_back({k, std::move(*s)});
    }
  }
  // Riemann's HTTP JSON carries custom fields as top-level keys.
  for (auto& [k, v] : doc.items()) {
    static constexpr std::string_view core[] = {"host", "service", "state", "description", "time",
                                                "ttl",  "metric",  "tags",  "attributes"};
    if (std::find(std::begin(core), std::end(core), k) != std::end(core) || v.is_null())
      continue;
    auto s = scalar_to_string(v);
    if (!s)
      return wrong_type(k, "a string, number or boolean", v);
    e.attributes.push_back({k, std::move(*s)});
  }
  return e;
}

std::string encode(const event& e, bool iso_time, bool flat_attributes) {
  json j = json::object();
  if (e.host)
    j["host"] = *e.host;
  if (e.service)
    j["service"] = *e.service;
  if (e.state)
    j["state"] = *e.state;
  if (e.description)
    j["description"] = *e.description;
  if (e.time_us) {
    if (iso_time)
      j["time"] = format_iso8601(*e.time_us);
    else
      j["time"] = static_cast<double>(*e.time_us) / 1e6;
  }
  if (e.ttl)
    j["ttl"] = *e.ttl;
  if (auto* i = std::get_if<int64_t>(&e.metric))
    j["metric"] = *i;
  else if (auto* d = std::get_if<double>(&e.metric))
    j["metric"] = std::isfinite(*d) ? json(*d) : json(nullptr);
  if (!e.tags.empty())
    j["tags"] = e.tags;
  if (flat_attributes)
    for (const char* core :
         {"host", "service", "state", "description", "metric", "time", "ttl", "tags"})
      if (!j.contains(core))
        j[core] = nullptr;
  if (!e.attributes.empty()) {
    json& attrs = flat_attributes ? j : (j["attributes"] = json::object());
    for (auto& a : e.attributes)
      if (!flat_attributes || !j.contains(a.key))
        attrs[a.key] = a.value;
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace dmon::json_codec
