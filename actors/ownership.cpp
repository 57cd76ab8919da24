// Key hashing for shard ownership; stable across runs so nodes agree (the cluster relies on it).
#include "ownership.hpp"

namespace dmon {

namespace {

constexpr uint64_t fnv_prime = 1099511628211ull;

uint64_t mix(uint64_t h, unsigned char c) {
  return (h ^ c) * fnv_prime;
}

uint64_t mix_part(uint64_t h, const std::string* part) {
  h = mix(h, part ? 1 : 0);
  if (part)
    for (unsigned char c : *part)
      h = mix(h, c);
  return mix(h, 0);
}

// splitmix64's finalizer: FNV's low bits are weak, and the shard is taken modulo a small count.
uint64_t finalize(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

uint64_t ownership::key_hash(const event& e) {
  hasher h;
  h.add(e.host ? &*e.host : nullptr);
  h.add(e.service ? &*e.service : nullptr);
  return h.finish();
}

void ownership::hasher::add(const std::string* part) {
  h_ = mix_part(h_, part);
}

uint64_t ownership::hasher::finish() const {
  return finalize(h_);
}

size_t ownership::shard_of(const event& e) const {
  if (shards_ == 1)
    return 0;
  return static_cast<size_t>(key_hash(e) % shards_);
}

}  // namespace dmon
