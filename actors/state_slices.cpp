// state_slices: the key hash, digest and length-prefixed encoding of stream-state slices.
#include "state_slices.hpp"

#include "ownership.hpp"

namespace dmon::state_slices {

namespace {

constexpr uint8_t version = 1;
constexpr uint8_t has_host = 1, has_service = 2;

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
  h.add(s.host ? &*s.host : nullptr);
  h.add(s.service ? &*s.service : nullptr);
  return h.finish();
}

std::string encode(std::span<const key_state> slices) {
  std::string out;
  out.push_back(static_cast<char>(version));
  put_u32(out, static_cast<uint32_t>(slices.size()));
  for (auto& s : slices) {
    uint8_t flags = (s.host ? has_host : 0) | (s.service ? has_service : 0);
    out.push_back(static_cast<char>(flags));
    put_bytes(out, s.host.value_or(std::string{}));
    put_bytes(out, s.service.value_or(std::string{}));
    put_bytes(out, s.json);
  }
  return out;
}

result<std::vector<key_state>> decode(std::string_view bytes) {
  reader r{bytes};
  uint8_t v = 0;
  if (!r.u8(v))
    return malformed("empty");
  if (v != version)
    return malformed("version " + std::to_string(v) + ", this dmon reads version " +
                     std::to_string(version));
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
    if (!r.u8(flags) || flags > (has_host | has_service) || !r.bytes(host) || !r.bytes(service) ||
        !r.bytes(s.json))
      return malformed("slice " + std::to_string(i) + " is truncated or forged");
    if (flags & has_host)
      s.host = std::move(host);
    if (flags & has_service)
      s.service = std::move(service);
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
