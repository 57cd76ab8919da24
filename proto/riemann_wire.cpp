// Riemann's request Msg read field by field into dmon::event (the common case; libprotobuf does the
// rest).
#include "riemann_wire.hpp"

#include <bit>
#include <cstring>

namespace dmon::riemann_wire {

namespace {

enum wire : uint32_t { varint_type = 0, fixed64_type = 1, bytes_type = 2, fixed32_type = 5 };

// Field numbers of riemann.proto.
enum msg_field : uint32_t { msg_ok = 2, msg_error = 3, msg_query = 5, msg_events = 6 };
enum event_field : uint32_t {
  ev_time = 1,
  ev_state = 2,
  ev_service = 3,
  ev_host = 4,
  ev_description = 5,
  ev_tags = 7,
  ev_ttl = 8,
  ev_attributes = 9,
  ev_time_micros = 10,
  ev_metric_sint64 = 13,
  ev_metric_d = 14,
  ev_metric_f = 15,
};

struct reader {
  const unsigned char* p;
  const unsigned char* end;

  explicit reader(std::string_view s)
      : p(reinterpret_cast<const unsigned char*>(s.data())), end(p + s.size()) {}

  bool done() const { return p == end; }

  // At most 10 bytes, and no bits beyond 64: anything else is left to libprotobuf.
  bool varint(uint64_t& v) {
    // Tags and lengths are one byte in nearly every event: no loop for them.
    if (p != end && *p < 0x80) {
      v = *p++;
      return true;
    }
    return long_varint(v);
  }
  bool long_varint(uint64_t& v) {
    if (end - p >= 10) {
      // Room for the longest varint (times are 5 to 8 bytes): no end checks, and the loop
      // unrolls into constant shifts.
      uint64_t r = 0;
#pragma GCC unroll 9
      for (unsigned i = 0; i < 9; ++i) {
        uint64_t b = p[i];
        r |= (b & 0x7f) << (7 * i);
        if (b < 0x80) {
          p += i + 1;
          v = r;
          return true;
        }
      }
      uint64_t last = p[9];
      if (last > 1)
        return false;
      p += 10;
      v = r | (last << 63);
      return true;
    }
    v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      if (p == end)
        return false;
      uint64_t b = *p++;
      if (shift == 63 && b > 1)
        return false;
      v |= (b & 0x7f) << shift;
      if (!(b & 0x80))
        return true;
    }
    return false;
  }
  bool tag(uint32_t& field, uint32_t& type) {
    uint64_t t;
    if (!varint(t) || t > 0xFFFF'FFFFu)
      return false;
    field = static_cast<uint32_t>(t >> 3);
    type = static_cast<uint32_t>(t & 7);
    return field != 0;
  }
  bool bytes(std::string_view& s) {
    uint64_t n;
    if (!varint(n) || n > static_cast<uint64_t>(end - p))
      return false;
    s = {reinterpret_cast<const char*>(p), static_cast<size_t>(n)};
    p += n;
    return true;
  }
  template <class T>
  bool fixed(T& out) {
    if (static_cast<size_t>(end - p) < sizeof(T))
      return false;
    std::memcpy(&out, p, sizeof(T));  // protobuf's fixed types are little-endian, as x86 is
    p += sizeof(T);
    return true;
  }
};

static_assert(std::endian::native == std::endian::little, "fixed32/64 are read in place");

bool is_core_key(std::string_view k) {
  return k == "host" || k == "service" || k == "state" || k == "description" || k == "tags" ||
         k == "time" || k == "ttl" || k == "metric";
}

bool attribute_into(std::string_view bytes, event& e) {
  reader r{bytes};
  std::optional<std::string_view> key;
  std::string_view value;
  while (!r.done()) {
    uint32_t field, type;
    if (!r.tag(field, type) || type != bytes_type)
      return false;
    std::string_view s;
    if (!r.bytes(s))
      return false;
    if (field == 1)
      key = s;
    else if (field == 2)
      value = s;
    else
      return false;
  }
  if (!key)
    return false;  // `key` is required: libprotobuf rejects the Msg
  if (!is_core_key(*key))
    e.attributes.push_back({std::string{*key}, std::string{value}});
  return true;
}

bool event_into(std::string_view bytes, int64_t now_us, event& e) {
  reader r{bytes};
  std::optional<int64_t> time, time_micros, metric_sint64;
  std::optional<double> metric_d;
  std::optional<float> metric_f, ttl;
  while (!r.done()) {
    uint32_t field, type;
    if (!r.tag(field, type))
      return false;
    switch (type) {
      case varint_type: {
        uint64_t v;
        if (!r.varint(v))
          return false;
        if (field == ev_time)
          time = static_cast<int64_t>(v);
        else if (field == ev_time_micros)
          time_micros = static_cast<int64_t>(v);
        else if (field == ev_metric_sint64)
          metric_sint64 = static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
        else
          return false;
        break;
      }
      case bytes_type: {
        std::string_view s;
        if (!r.bytes(s))
          return false;
        switch (field) {
          case ev_state:
            e.state.emplace(s);
            break;
          case ev_service:
            e.service.emplace(s);
            break;
          case ev_host:
            e.host.emplace(s);
            break;
          case ev_description:
            e.description.emplace(s);
            break;
          case ev_tags:
            e.tags.emplace_back(s);
            break;
          case ev_attributes:
            if (!attribute_into(s, e))
              return false;
            break;
          default:
            return false;
        }
        break;
      }
      case fixed32_type: {
        float f;
        if (!r.fixed(f))
          return false;
        if (field == ev_ttl)
          ttl = f;
        else if (field == ev_metric_f)
          metric_f = f;
        else
          return false;
        break;
      }
      case fixed64_type: {
        double d;
        if (!r.fixed(d) || field != ev_metric_d)
          return false;
        metric_d = d;
        break;
      }
      default:
        return false;
    }
  }
  // protobuf_codec's rules (from_proto), in the same order.
  if (time_micros)
    e.time_us = *time_micros;
  else if (time)
    e.time_us = *time * 1'000'000;
  else
    e.time_us = now_us;
  if (ttl)
    e.ttl = *ttl;
  if (metric_sint64)
    e.metric = *metric_sint64;
  else if (metric_d)
    e.metric = *metric_d;
  else if (metric_f)
    e.metric = static_cast<double>(*metric_f);
  return true;
}

bool query_into(std::string_view bytes, std::optional<std::string>& query) {
  reader r{bytes};
  std::string_view text;
  while (!r.done()) {
    uint32_t field, type;
    if (!r.tag(field, type) || field != 1 || type != bytes_type || !r.bytes(text))
      return false;
  }
  query.emplace(text);
  return true;
}

}  // namespace

bool decode_request(std::string_view bytes, int64_t now_us, std::vector<event>& events,
                    std::optional<std::string>& query) {
  auto first = events.size();
  std::optional<std::string> q;
  reader r{bytes};
  bool ok = true;
  while (ok && !r.done()) {
    uint32_t field, type;
    if (!r.tag(field, type)) {
      ok = false;
      break;
    }
    if (field == msg_ok && type == varint_type) {
      uint64_t ignored;
      ok = r.varint(ignored);
    } else if (type != bytes_type) {
      ok = false;
    } else {
      std::string_view s;
      if (!r.bytes(s)) {
        ok = false;
      } else if (field == msg_events) {
        ok = event_into(s, now_us, events.emplace_back());
      } else if (field == msg_query && !q) {
        ok = query_into(s, q);
      } else {
        ok = field == msg_error;  // a request's error text means nothing; anything else declines
      }
    }
  }
  if (!ok) {
    events.resize(first);
    return false;
  }
  query = std::move(q);
  return true;
}

}  // namespace dmon::riemann_wire
