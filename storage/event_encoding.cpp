// Storage encoding of events: presence bitmap plus only the fields present, little-endian numbers.
#include "event_encoding.hpp"

#include <bit>
#include <cstring>

namespace dmon::storage_encoding {

namespace {

// Bumped whenever the layout changes, so an old dmon refuses new data loudly.
constexpr uint8_t version = 1;

enum presence : uint16_t {
  has_host = 1 << 0,
  has_service = 1 << 1,
  has_state = 1 << 2,
  has_description = 1 << 3,
  has_time = 1 << 4,
  has_ttl = 1 << 5,
  has_metric_int = 1 << 6,
  has_metric_double = 1 << 7,
  has_tags = 1 << 8,
  has_attributes = 1 << 9,
};

// The writers fill room already made (encode sizes the event first and grows `out` once: a
// push_back per byte checked the capacity every time, on the index log's hot path).
size_t varint_size(uint64_t v) {
  size_t n = 1;
  for (; v >= 0x80; v >>= 7)
    ++n;
  return n;
}

char* put_varint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

char* put_u64(char* p, uint64_t v) {
  if constexpr (std::endian::native == std::endian::big)
    v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
  return p + 8;
}

size_t string_size(std::string_view s) {
  return varint_size(s.size()) + s.size();
}

char* put_string(char* p, std::string_view s) {
  p = put_varint(p, s.size());
  if (!s.empty())
    std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

// Reads from the front of a byte range; the first failure sticks so callers check once.
class reader {
 public:
  explicit reader(std::string_view bytes) : rest_(bytes) {}

  bool ok() const { return ok_; }
  bool at_end() const { return rest_.empty(); }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (rest_.empty())
        return fail();
      auto b = static_cast<uint8_t>(rest_.front());
      rest_.remove_prefix(1);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80))
        return v;
    }
    return fail();
  }

  uint64_t u64() {
    if (rest_.size() < 8)
      return fail();
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
      v |= static_cast<uint64_t>(static_cast<uint8_t>(rest_[i])) << (8 * i);
    rest_.remove_prefix(8);
    return v;
  }

  std::string string() {
    auto n = varint();
    if (!ok_ || n > rest_.size()) {
      fail();
      return {};
    }
    std::string s{rest_.substr(0, n)};
    rest_.remove_prefix(n);
    return s;
  }

 private:
  uint64_t fail() {
    ok_ = false;
    rest_ = {};
    return 0;
  }

  std::string_view rest_;
  bool ok_ = true;
};

}  // namespace

void encode(const event& e, std::string& out) {
  uint16_t bits = 0;
  bits |= e.host ? has_host : 0;
  bits |= e.service ? has_service : 0;
  bits |= e.state ? has_state : 0;
  bits |= e.description ? has_description : 0;
  bits |= e.time_us ? has_time : 0;
  bits |= e.ttl ? has_ttl : 0;
  bits |= std::holds_alternative<int64_t>(e.metric) ? has_metric_int : 0;
  bits |= std::holds_alternative<double>(e.metric) ? has_metric_double : 0;
  bits |= e.tags.empty() ? 0 : has_tags;
  bits |= e.attributes.empty() ? 0 : has_attributes;
  const std::optional<std::string>* strings[] = {&e.host, &e.service, &e.state, &e.description};
  size_t n = 1 + varint_size(bits);
  for (auto* s : strings)
    if (*s)
      n += string_size(**s);
  n += 8 * (!!e.time_us + !!e.ttl + e.has_metric());
  if (!e.tags.empty()) {
    n += varint_size(e.tags.size());
    for (auto& t : e.tags)
      n += string_size(t);
  }
  if (!e.attributes.empty()) {
    n += varint_size(e.attributes.size());
    for (auto& a : e.attributes)
      n += string_size(a.key) + string_size(a.value);
  }
  auto at = out.size();
  out.resize(at + n);
  char* p = out.data() + at;
  *p++ = static_cast<char>(version);
  p = put_varint(p, bits);
  for (auto* s : strings)
    if (*s)
      p = put_string(p, **s);
  if (e.time_us)
    p = put_u64(p, static_cast<uint64_t>(*e.time_us));
  if (e.ttl)
    p = put_u64(p, std::bit_cast<uint64_t>(*e.ttl));
  if (auto* i = std::get_if<int64_t>(&e.metric))
    p = put_u64(p, static_cast<uint64_t>(*i));
  if (auto* d = std::get_if<double>(&e.metric))
    p = put_u64(p, std::bit_cast<uint64_t>(*d));
  if (!e.tags.empty()) {
    p = put_varint(p, e.tags.size());
    for (auto& t : e.tags)
      p = put_string(p, t);
  }
  if (!e.attributes.empty()) {
    p = put_varint(p, e.attributes.size());
    for (auto& a : e.attributes) {
      p = put_string(p, a.key);
      p = put_string(p, a.value);
    }
  }
}

std::string encode(const event& e) {
  std::string out;
  encode(e, out);
  return out;
}

result<event> decode(std::string_view bytes) {
  if (bytes.empty())
    return error{ec::storage_failure, "stored event is empty (corrupt value)"};
  if (static_cast<uint8_t>(bytes[0]) != version)
    return error{ec::storage_failure, "stored event has encoding version " +
                                          std::to_string(static_cast<uint8_t>(bytes[0])) +
                                          ", this dmon reads " + std::to_string(version) +
                                          "; was the data written by a newer dmon?"};
  reader r{bytes.substr(1)};
  auto bits = r.varint();
  event e;
  if (bits & has_host)
    e.host = r.string();
  if (bits & has_service)
    e.service = r.string();
  if (bits & has_state)
    e.state = r.string();
  if (bits & has_description)
    e.description = r.string();
  if (bits & has_time)
    e.time_us = static_cast<int64_t>(r.u64());
  if (bits & has_ttl)
    e.ttl = std::bit_cast<double>(r.u64());
  if (bits & has_metric_int)
    e.metric = static_cast<int64_t>(r.u64());
  else if (bits & has_metric_double)
    e.metric = std::bit_cast<double>(r.u64());
  if (bits & has_tags) {
    auto n = r.varint();
    // Each tag takes at least one byte, so a huge count is corruption, not a reason to allocate.
    if (n > bytes.size())
      return error{ec::storage_failure, "stored event has an impossible tag count (corrupt value)"};
    e.tags.reserve(n);
    for (uint64_t i = 0; i < n && r.ok(); ++i)
      e.tags.push_back(r.string());
  }
  if (bits & has_attributes) {
    auto n = r.varint();
    if (n > bytes.size())
      return error{ec::storage_failure,
                   "stored event has an impossible attribute count (corrupt value)"};
    e.attributes.reserve(n);
    for (uint64_t i = 0; i < n && r.ok(); ++i) {
      auto key = r.string();
      auto value = r.string();
      e.attributes.push_back({std::move(key), std::move(value)});
    }
  }
  if (!r.ok())
    return error{ec::storage_failure, "stored event is truncated (corrupt value)"};
  if (!r.at_end())
    return error{ec::storage_failure, "stored event has trailing bytes (corrupt value)"};
  return e;
}

void put_ordered_i64(std::string& out, int64_t v) {
  auto u = static_cast<uint64_t>(v) ^ (uint64_t{1} << 63);
  for (int i = 7; i >= 0; --i)
    out.push_back(static_cast<char>(u >> (8 * i)));
}

int64_t get_ordered_i64(std::string_view bytes) {
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i)
    u = (u << 8) | static_cast<uint8_t>(bytes[i]);
  return static_cast<int64_t>(u ^ (uint64_t{1} << 63));
}

}  // namespace dmon::storage_encoding
