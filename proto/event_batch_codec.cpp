// Event batch codec: varints and length-prefixed strings with a bounds check before every read.
#include "event_batch_codec.hpp"

#include <bit>
#include <cstring>

namespace dmon::event_batch_codec {

namespace {

enum flag : uint8_t {
  has_host = 1 << 0,
  has_service = 1 << 1,
  has_state = 1 << 2,
  has_description = 1 << 3,
  has_time = 1 << 4,
  has_ttl = 1 << 5,
};

constexpr int metric_shift = 6;
constexpr uint8_t metric_int = 1;
constexpr uint8_t metric_double = 2;

void put_varint(std::string& out, uint64_t x) {
  while (x >= 0x80) {
    out.push_back(static_cast<char>((x & 0x7f) | 0x80));
    x >>= 7;
  }
  out.push_back(static_cast<char>(x));
}

uint64_t zigzag(int64_t x) {
  return (static_cast<uint64_t>(x) << 1) ^ static_cast<uint64_t>(x >> 63);
}

int64_t unzigzag(uint64_t x) {
  return static_cast<int64_t>(x >> 1) ^ -static_cast<int64_t>(x & 1);
}

// Fixed little-endian so nodes on different hosts agree regardless of byte order.
void put_double(std::string& out, double d) {
  auto bits = std::bit_cast<uint64_t>(d);
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

void put_string(std::string& out, const std::string& s) {
  put_varint(out, s.size());
  out.append(s);
}

class reader {
 public:
  explicit reader(std::string_view bytes) : bytes_(bytes) {}

  size_t offset() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }

  bool byte(uint8_t& x) {
    if (remaining() < 1)
      return fail("truncated input");
    x = static_cast<uint8_t>(bytes_[pos_++]);
    return true;
  }

  bool varint(uint64_t& x) {
    x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = 0;
      if (!byte(b))
        return false;
      // The tenth byte may only carry the top bit of a 64-bit value.
      if (shift == 63 && b > 1)
        return fail("varint overflows 64 bits");
      x |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80))
        return true;
    }
    return fail("varint longer than 10 bytes");
  }

  // A count of items that each take at least `min_item_bytes`; rejecting counts the
  // rest of the input cannot hold keeps a forged count from reserving gigabytes.
  bool count(size_t& n, size_t min_item_bytes, const char* what) {
    uint64_t x = 0;
    if (!varint(x))
      return false;
    if (x > remaining() / min_item_bytes)
      return fail(std::string{what} + " count " + std::to_string(x) + " exceeds the remaining " +
                  std::to_string(remaining()) + " bytes");
    n = static_cast<size_t>(x);
    return true;
  }

  bool string(std::string& s) {
    uint64_t len = 0;
    if (!varint(len))
      return false;
    if (len > remaining())
      return fail("string of " + std::to_string(len) + " bytes runs past the end (" +
                  std::to_string(remaining()) + " left)");
    s.assign(bytes_.substr(pos_, static_cast<size_t>(len)));
    pos_ += static_cast<size_t>(len);
    return true;
  }

  bool opt_string(bool present, std::optional<std::string>& s) {
    if (!present)
      return true;
    return string(s.emplace());
  }

  bool dbl(double& d) {
    if (remaining() < 8)
      return fail("truncated double");
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i)
      bits |= static_cast<uint64_t>(static_cast<uint8_t>(bytes_[pos_ + i])) << (8 * i);
    pos_ += 8;
    d = std::bit_cast<double>(bits);
    return true;
  }

  bool fail(std::string what) {
    if (error_.empty())
      error_ = std::move(what) + " at byte " + std::to_string(pos_);
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
  std::string error_;
};

bool decode_event(reader& r, event& e) {
  uint8_t flags = 0;
  if (!r.byte(flags))
    return false;
  auto kind = static_cast<uint8_t>(flags >> metric_shift);
  if (kind > metric_double)
    return r.fail("unknown metric kind " + std::to_string(kind));
  if (!r.opt_string(flags & has_host, e.host) || !r.opt_string(flags & has_service, e.service) ||
      !r.opt_string(flags & has_state, e.state) ||
      !r.opt_string(flags & has_description, e.description))
    return false;
  if (flags & has_time) {
    uint64_t t = 0;
    if (!r.varint(t))
      return false;
    e.time_us = unzigzag(t);
  }
  if (flags & has_ttl) {
    double ttl = 0;
    if (!r.dbl(ttl))
      return false;
    e.ttl = ttl;
  }
  if (kind == metric_int) {
    uint64_t m = 0;
    if (!r.varint(m))
      return false;
    e.metric = unzigzag(m);
  } else if (kind == metric_double) {
    double d = 0;
    if (!r.dbl(d))
      return false;
    e.metric = d;
  }
  size_t n = 0;
  if (!r.count(n, 1, "tag"))
    return false;
  e.tags.resize(n);
  for (auto& t : e.tags)
    if (!r.string(t))
      return false;
  if (!r.count(n, 2, "attribute"))
    return false;
  e.attributes.resize(n);
  for (auto& a : e.attributes)
    if (!r.string(a.key) || !r.string(a.value))
      return false;
  return true;
}

}  // namespace

void encode_to(std::string& out, std::span<const event> events) {
  out.push_back(static_cast<char>(version));
  put_varint(out, events.size());
  for (auto& e : events) {
    uint8_t flags = 0;
    if (e.host)
      flags |= has_host;
    if (e.service)
      flags |= has_service;
    if (e.state)
      flags |= has_state;
    if (e.description)
      flags |= has_description;
    if (e.time_us)
      flags |= has_time;
    if (e.ttl)
      flags |= has_ttl;
    if (std::holds_alternative<int64_t>(e.metric))
      flags |= metric_int << metric_shift;
    else if (std::holds_alternative<double>(e.metric))
      flags |= metric_double << metric_shift;
    out.push_back(static_cast<char>(flags));
    for (auto* s : {&e.host, &e.service, &e.state, &e.description})
      if (*s)
        put_string(out, **s);
    if (e.time_us)
      put_varint(out, zigzag(*e.time_us));
    if (e.ttl)
      put_double(out, *e.ttl);
    if (auto* i = std::get_if<int64_t>(&e.metric))
      put_varint(out, zigzag(*i));
    else if (auto* d = std::get_if<double>(&e.metric))
      put_double(out, *d);
    put_varint(out, e.tags.size());
    for (auto& t : e.tags)
      put_string(out, t);
    put_varint(out, e.attributes.size());
    for (auto& a : e.attributes) {
      put_string(out, a.key);
      put_string(out, a.value);
    }
  }
}

std::string encode(std::span<const event> events) {
  std::string out;
  encode_to(out, events);
  return out;
}

result<std::vector<event>> decode(std::string_view bytes) {
  auto malformed = [](const std::string& what) {
    return error{ec::malformed_input, "event batch from a peer is malformed: " + what +
                                          "; check that every node runs the same dmon version"};
  };
  reader r{bytes};
  uint8_t v = 0;
  if (!r.byte(v))
    return malformed(r.error());
  if (v != version)
    return malformed("unknown format version " + std::to_string(v) + " (this node reads " +
                     std::to_string(version) + ")");
  size_t n = 0;
  // An event takes at least three bytes: flags, tag count, attribute count.
  if (!r.count(n, 3, "event"))
    return malformed(r.error());
  std::vector<event> events(n);
  for (auto& e : events)
    if (!decode_event(r, e))
      return malformed(r.error());
  if (r.remaining() != 0)
    return malformed(std::to_string(r.remaining()) + " trailing bytes after " + std::to_string(n) +
                     " events at byte " + std::to_string(r.offset()));
  return events;
}

}  // namespace dmon::event_batch_codec
