// Event <-> JSON in the shape of the Python event dict, for checkpoint state that both paths read.
#include "native/event_json.hpp"

#include <cmath>

namespace dmon::native {

json event_to_json(const event& e) {
  json j = json::object();
  if (e.host)
    j["host"] = *e.host;
  if (e.service)
    j["service"] = *e.service;
  if (e.state)
    j["state"] = *e.state;
  if (e.description)
    j["description"] = *e.description;
  if (e.time_us)
    j["time"] = static_cast<double>(*e.time_us) / 1e6;
  if (e.ttl)
    j["ttl"] = *e.ttl;
  if (auto* i = std::get_if<int64_t>(&e.metric))
    j["metric"] = *i;
  else if (auto* d = std::get_if<double>(&e.metric))
    j["metric"] = *d;
  if (!e.tags.empty())
    j["tags"] = e.tags;
  if (!e.attributes.empty()) {
    json a = json::object();
    for (auto& kv : e.attributes)
      a[kv.key] = kv.value;
    j["attributes"] = std::move(a);
  }
  return j;
}

namespace {

error wrong(const std::string& field, const char* expected) {
  return error{ec::wrong_type, "saved event field '" + field + "' must be " + expected};
}

bool is_core(const std::string& k) {
  return k == "host" || k == "service" || k == "state" || k == "description" || k == "time" ||
         k == "ttl" || k == "metric" || k == "tags" || k == "attributes";
}

std::string as_text(const json& v) {
  if (v.is_string())
    return v.get<std::string>();
  if (v.is_boolean())
    return v.get<bool>() ? "True" : "False";
  return v.dump();
}

}  // namespace

result<event> event_from_json(const json& j) {
  if (!j.is_object())
    return error{ec::wrong_type, "a saved event must be a JSON object, got " + j.dump()};
  event e;
  auto str = [&](const char* k, std::optional<std::string>& out) -> std::optional<error> {
    auto it = j.find(k);
    if (it == j.end() || it->is_null())
      return std::nullopt;
    if (!it->is_string())
      return wrong(k, "a string");
    out = it->get<std::string>();
    return std::nullopt;
  };
  for (auto [k, out] : {std::pair{"host", &e.host}, std::pair{"service", &e.service},
                        std::pair{"state", &e.state}, std::pair{"description", &e.description}})
    if (auto err = str(k, *out))
      return *err;
  if (auto it = j.find("time"); it != j.end() && !it->is_null()) {
    if (!it->is_number())
      return wrong("time", "a number");
    e.time_us = static_cast<int64_t>(std::llround(it->get<double>() * 1e6));
  }
  if (auto it = j.find("ttl"); it != j.end() && !it->is_null()) {
    if (!it->is_number())
      return wrong("ttl", "a number");
    e.ttl = it->get<double>();
  }
  if (auto it = j.find("metric"); it != j.end() && !it->is_null()) {
    if (it->is_number_integer())
      e.metric = it->get<int64_t>();
    else if (it->is_number_float())
      e.metric = it->get<double>();
    else
      return wrong("metric", "a number");
  }
  if (auto it = j.find("tags"); it != j.end() && !it->is_null()) {
    if (!it->is_array())
      return wrong("tags", "a list of strings");
    for (auto& t : *it) {
      if (!t.is_string())
        return wrong("tags", "a list of strings");
      e.tags.push_back(t.get<std::string>());
    }
  }
  if (auto it = j.find("attributes"); it != j.end() && !it->is_null()) {
    if (!it->is_object())
      return wrong("attributes", "an object");
    for (auto& [k, v] : it->items())
      if (!v.is_null())
        e.attributes.push_back({k, as_text(v)});
  }
  for (auto& [k, v] : j.items())
    if (!v.is_null() && !is_core(k) && !e.find_attribute(k))
      e.attributes.push_back({k, as_text(v)});
  return e;
}

number operator+(const number& a, const number& b) {
  number out;
  if (a.is_int && b.is_int && !__builtin_add_overflow(a.i, b.i, &out.i))
    return out;
  out.is_int = false;
  out.d = a.as_double() + b.as_double();
  return out;
}

std::optional<number> number::from_json(const json& j) {
  number n;
  if (j.is_number_integer()) {
    n.i = j.get<int64_t>();
    return n;
  }
  if (j.is_number_float()) {
    n.is_int = false;
    n.d = j.get<double>();
    return n;
  }
  return std::nullopt;
}

int compare(const metric_value& m, const number& x) {
  // long double holds every int64 and every double exactly (x86-64), so mixed
  // int/float comparisons are exact, as Python's are.
  long double a, b;
  if (auto* i = std::get_if<int64_t>(&m)) {
    if (x.is_int)
      return *i < x.i ? -1 : (*i > x.i ? 1 : 0);
    a = static_cast<long double>(*i);
  } else {
    a = std::get<double>(m);
  }
  b = x.is_int ? static_cast<long double>(x.i) : static_cast<long double>(x.d);
  if (std::isnan(a) || std::isnan(b))
    return 2;
  return a < b ? -1 : (a > b ? 1 : 0);
}

}  // namespace dmon::native
