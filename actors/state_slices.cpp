// state_slices: the key hash, digest and length-prefixed encoding of stream-state slices.
#include "state_slices.hpp"

#include "ownership.hpp"

namespace dmon::state_slices {

namespace {

constexpr uint8_t plain_version = 1, values_version = 2;
constexpr uint8_t has_host = 1, has_service = 2, has_values = 4;
// A forged count of values cannot reserve much: a key has a few fields.
constexpr uint32_t max_values = 1024;

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_bytes(std::string& out, const std::string& s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out += s;
}

struct reader {
  std::string_view in;
  size_t pos = 0;

  bool u8(uint8_t& v) {
    if (pos + 1 > in.size())
      return false;
    v = static_cast<uint8_t>(in[pos++]);
    return true;
  }
  bool u32(uint32_t& v) {
    if (pos + 4 > in.size())
      return false;
    v = 0;
    for (int i = 0; i < 4; ++i)
      v |= static_cast<uint32_t>(static_cast<uint8_t>(in[pos++])) << (8 * i);
    return true;
  }
  bool bytes(std::string& s) {
    uint32_t n = 0;
    if (!u32(n) || n > in.size() - pos)
      return false;
    s.assign(in.substr(pos, n));
    pos += n;
    return true;
  }
};

error malformed(const std::string& what) {
  return error{ec::malformed_input, "stream-state slices: " + what};
}

}  // namespace

uint64_t key_hash(const key_state& s) {
  ownership::hasher h;
  if (s.values) {
    for (auto& v : *s.values)
      h.add(v ? &*v : nullptr);
    return h.finish();
  }
  h.add(s.host ? &*s.host : nullptr);
  h.add(s.service ? &*s.service : nullptr);
  return h.finish();
}

std::string encode(std::span<const key_state> slices) {
  bool any_values = false;
  for (auto& s : slices)
    any_values = any_values || s.values.has_value();
  std::string out;
  out.push_back(static_cast<char>(any_values ? values_version : plain_version));
  put_u32(out, static_cast<uint32_t>(slices.size()));
  for (auto& s : slices) {
    uint8_t flags =
        (s.host ? has_host : 0) | (s.service ? has_service : 0) | (s.values ? has_values : 0);
    out.push_back(static_cast<char>(flags));
    put_bytes(out, s.host.value_or(std::string{}));
    put_bytes(out, s.service.value_or(std::string{}));
    put_bytes(out, s.json);
    if (s.values) {
      put_u32(out, static_cast<uint32_t>(s.values->size()));
      for (auto& v : *s.values) {
        out.push_back(static_cast<char>(v ? 1 : 0));
        put_bytes(out, v.value_or(std::string{}));
      }
    }
  }
  return out;
}

result<std::vector<key_state>> decode(std::string_view bytes) {
  reader r{bytes};
  uint8_t v = 0;
  if (!r.u8(v))
    return malformed("empty");
  if (v != plain_version && v != values_version)
    return malformed("version " + std::to_string(v) + ", this dmon reads versions " +
                     std::to_string(plain_version) + " and " + std::to_string(values_version));
  uint8_t max_flags = has_host | has_service | (v == values_version ? has_values : 0);
  uint32_t n = 0;
  if (!r.u32(n))
    return malformed("truncated count");
  // Each slice takes at least 13 bytes: a forged count cannot reserve much.
  if (n > (bytes.size() - r.pos) / 13)
    return malformed("count " + std::to_string(n) + " does not fit in " +
                     std::to_string(bytes.size()) + " bytes");
  std::vector<key_state> out;
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    uint8_t flags = 0;
    key_state s;
    std::string host, service;
    auto bad = [&] { return malformed("slice " + std::to_string(i) + " is truncated or forged"); };
    if (!r.u8(flags) || flags > max_flags || !r.bytes(host) || !r.bytes(service) ||
        !r.bytes(s.json))
      return bad();
    if (flags & has_host)
      s.host = std::move(host);
    if (flags & has_service)
      s.service = std::move(service);
    if (flags & has_values) {
      uint32_t count = 0;
      if (!r.u32(count) || count > max_values)
        return bad();
      s.values.emplace();
      for (uint32_t j = 0; j < count; ++j) {
        uint8_t present = 0;
        std::string value;
        if (!r.u8(present) || present > 1 || !r.bytes(value))
          return bad();
        s.values->push_back(present ? std::optional<std::string>{std::move(value)} : std::nullopt);
      }
    }
    out.push_back(std::move(s));
  }
  if (r.pos != bytes.size())
    return malformed(std::to_string(bytes.size() - r.pos) + " trailing bytes");
  return out;
}

uint64_t digest(const key_state& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s.json) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace dmon::state_slices
