// Regroup keys (hashed like ownership's), owner splitting and the node-to-node encoding.
#include "regroup.hpp"

#include <cstring>

#include "event_batch_codec.hpp"

namespace dmon::regroup {

namespace {

constexpr unsigned char codec_version = 1;
// Addresses are "<root name>/<path>"; anything longer is not one.
constexpr uint64_t max_address = 1u << 16;

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

struct reader {
  std::string_view in;
  size_t at = 0;

  error bad(const std::string& what) const {
    return error{ec::malformed_input, "regrouped batch: " + what + " at byte " +
                                          std::to_string(at) +
                                          " (nodes must run the same dmond version)"};
  }
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at >= in.size())
        return false;
      auto b = static_cast<unsigned char>(in[at++]);
      v |= uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80))
        return true;
    }
    return false;
  }
};

}  // namespace

uint64_t key_hash(const std::vector<std::string>& fields, const event& e) {
  ownership::hasher h;
  for (auto& f : fields)
    h.add(e.find_string(f));
  return h.finish();
}

size_t shard_of(uint64_t key_hash, size_t shards) {
  return shards <= 1 ? 0 : static_cast<size_t>(key_hash % shards);
}

split split_by_owner(regrouped_batch batch, const ring& members, const std::string& self_id,
                     size_t shards) {
  split out;
  out.local.resize(shards ? shards : 1);
  bool alone = members.size() <= 1;
  for (auto& r : batch) {
    if (!alone) {
      auto& owner = members.owner(r.key_hash);
      if (owner != self_id) {
        out.remote[owner].push_back(std::move(r));
        continue;
      }
    }
    out.local[shard_of(r.key_hash, out.local.size())].push_back(std::move(r));
  }
  return out;
}

std::string encode(std::span<const regrouped_event> batch) {
  std::string out;
  out.push_back(static_cast<char>(codec_version));
  put_varint(out, batch.size());
  std::vector<event> events;
  events.reserve(batch.size());
  for (auto& r : batch) {
    put_varint(out, r.address.size());
    out += r.address;
    char h[8];
    for (int i = 0; i < 8; ++i)
      h[i] = static_cast<char>((r.key_hash >> (8 * i)) & 0xff);
    out.append(h, 8);
    events.push_back(r.e);
  }
  event_batch_codec::encode_to(out, events);
  return out;
}

result<regrouped_batch> decode(std::string_view bytes) {
  reader rd{bytes};
  if (bytes.empty() || static_cast<unsigned char>(bytes[0]) != codec_version)
    return rd.bad("unknown version");
  rd.at = 1;
  uint64_t n = 0;
  if (!rd.varint(n) || n > bytes.size())
    return rd.bad("bad count");
  regrouped_batch out(n);
  for (auto& r : out) {
    uint64_t len = 0;
    if (!rd.varint(len) || len > max_address || len > bytes.size() - rd.at)
      return rd.bad("bad address length");
    r.address.assign(bytes.substr(rd.at, len));
    rd.at += len;
    if (bytes.size() - rd.at < 8)
      return rd.bad("truncated key hash");
    for (int i = 0; i < 8; ++i)
      r.key_hash |= uint64_t{static_cast<unsigned char>(bytes[rd.at + i])} << (8 * i);
    rd.at += 8;
  }
  auto events = event_batch_codec::decode(bytes.substr(rd.at));
  if (!events)
    return error{ec::malformed_input, "regrouped batch: " + events.error().message};
  if (events->size() != out.size())
    return rd.bad("event count differs from the header's");
  for (size_t i = 0; i < out.size(); ++i)
    out[i].e = std::move((*events)[i]);
  return out;
}

}  // namespace dmon::regroup
