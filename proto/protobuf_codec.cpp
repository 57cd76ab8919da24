// Riemann protobuf codec: the rules of riemann-clojure-client's codec.clj, in C++.
#include "protobuf_codec.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "riemann.pb.h"
#include "riemann_wire.hpp"

namespace dmon::protobuf_codec {

namespace {

// Riemann drops attributes that would shadow core fields; we keep the core fields
// in their own slots, so the same names are dropped from attributes.
bool is_core_key(const std::string& k) {
  return k == "host" || k == "service" || k == "state" || k == "description" || k == "tags" ||
         k == "time" || k == "ttl" || k == "metric";
}

event from_proto(const ::Event& pe, int64_t now_us) {
  event e;
  if (pe.has_host())
    e.host = pe.host();
  if (pe.has_service())
    e.service = pe.service();
  if (pe.has_state())
    e.state = pe.state();
  if (pe.has_description())
    e.description = pe.description();
  if (pe.has_time_micros())
    e.time_us = pe.time_micros();
  else if (pe.has_time())
    e.time_us = pe.time() * 1'000'000;
  else
    e.time_us = now_us;
  if (pe.has_ttl())
    e.ttl = pe.ttl();
  if (pe.has_metric_sint64())
    e.metric = static_cast<int64_t>(pe.metric_sint64());
  else if (pe.has_metric_d())
    e.metric = pe.metric_d();
  else if (pe.has_metric_f())
    e.metric = static_cast<double>(pe.metric_f());
  e.tags.assign(pe.tags().begin(), pe.tags().end());
  e.attributes.reserve(pe.attributes_size());
  for (auto& a : pe.attributes())
    if (!is_core_key(a.key()))
      e.attributes.push_back({a.key(), a.value()});
  return e;
}

void to_proto(const event& e, ::Event& pe) {
  if (e.host)
    pe.set_host(*e.host);
  if (e.service)
    pe.set_service(*e.service);
  if (e.state)
    pe.set_state(*e.state);
  if (e.description)
    pe.set_description(*e.description);
  if (e.time_us) {
    pe.set_time_micros(*e.time_us);
    pe.set_time(*e.time_us / 1'000'000);
  }
  if (e.ttl)
    pe.set_ttl(static_cast<float>(*e.ttl));
  // Old servers read only metric_f, so it is always written beside the exact value.
  if (auto* i = std::get_if<int64_t>(&e.metric)) {
    pe.set_metric_sint64(*i);
    pe.set_metric_f(static_cast<float>(*i));
  } else if (auto* d = std::get_if<double>(&e.metric)) {
    pe.set_metric_d(*d);
    pe.set_metric_f(static_cast<float>(*d));
  }
  for (auto& t : e.tags)
    pe.add_tags(t);
  for (auto& a : e.attributes) {
    auto* pa = pe.add_attributes();
    pa->set_key(a.key);
    pa->set_value(a.value);
  }
}

}  // namespace

namespace {

// A Msg that parsed a frame this large is dropped afterwards rather than kept for reuse.
constexpr size_t large_msg_bytes = 1 << 20;

error not_a_msg(size_t bytes) {
  return error{ec::malformed_input,
               "message of " + std::to_string(bytes) +
                   " bytes is not a valid Riemann protobuf Msg; check the client's protocol "
                   "(length-prefixed protobuf on TCP, one Msg per UDP datagram)"};
}

}  // namespace

request_decoder::request_decoder(bool direct) : direct_(direct) {}
request_decoder::~request_decoder() = default;

result<std::optional<std::string>> request_decoder::decode(std::string_view bytes, int64_t now_us,
                                                           std::vector<event>& events) {
  if (direct_) {
    std::optional<std::string> query;
    if (riemann_wire::decode_request(bytes, now_us, events, query))
      return query;
  }
  if (!msg_)
    msg_ = std::make_unique<::Msg>();
  auto& msg = *msg_;
  bool parsed = bytes.size() <= static_cast<size_t>(std::numeric_limits<int>::max()) &&
                msg.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  if (!parsed) {
    msg_.reset();
    return not_a_msg(bytes.size());
  }
  // Geometric growth: a read of many one-event frames must not reallocate per frame.
  auto need = events.size() + static_cast<size_t>(msg.events_size());
  if (events.capacity() < need)
    events.reserve(std::max(need, 2 * events.capacity()));
  for (auto& pe : msg.events())
    events.push_back(from_proto(pe, now_us));
  std::optional<std::string> query;
  if (msg.has_query())
    query = msg.query().string();
  if (bytes.size() > large_msg_bytes)
    msg_.reset();
  return query;
}

result<request> decode_request(std::string_view bytes, int64_t now_us) {
  request_decoder decoder;
  request req;
  auto query = decoder.decode(bytes, now_us, req.events);
  if (!query)
    return query.error();
  req.query = std::move(*query);
  return req;
}

std::string encode_reply(bool ok, std::string_view error_message, std::span<const event> events) {
  ::Msg msg;
  msg.set_ok(ok);
  if (!error_message.empty())
    msg.set_error(std::string{error_message});
  for (auto& e : events)
    to_proto(e, *msg.add_events());
  return msg.SerializeAsString();
}

std::string encode_events(std::span<const event> events) {
  ::Msg msg;
  for (auto& e : events)
    to_proto(e, *msg.add_events());
  return msg.SerializeAsString();
}

std::string encode_query(std::string_view query) {
  ::Msg msg;
  msg.mutable_query()->set_string(std::string{query});
  return msg.SerializeAsString();
}

result<reply> decode_reply(std::string_view bytes) {
  ::Msg msg;
  if (!msg.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return error{ec::malformed_input, "reply is not a valid Riemann protobuf Msg"};
  reply r;
  r.ok = msg.ok();
  r.error = msg.error();
  for (auto& pe : msg.events()) {
    // A reply event without time keeps it absent: the server did not send one.
    auto e = from_proto(pe, 0);
    if (!pe.has_time() && !pe.has_time_micros())
      e.time_us.reset();
    r.events.push_back(std::move(e));
  }
  return r;
}

}  // namespace dmon::protobuf_codec
