// Rendezvous hashing: one mixed weight per (key, member); highest wins.
#include "ring.hpp"

#include <algorithm>

namespace dmon {

namespace {

// splitmix64's finalizer: a bijection with full avalanche, so per-key weights of
// different members are unrelated even though the inputs differ in few bits.
uint64_t finalize(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

ring::ring(std::vector<std::string> members) {
  for (auto& m : members)
    insert(std::move(m));
}

bool ring::insert(std::string node_id) {
  auto i = std::lower_bound(members_.begin(), members_.end(), node_id);
  if (i != members_.end() && *i == node_id)
    return false;
  auto pos = i - members_.begin();
  hashes_.insert(hashes_.begin() + pos, node_hash(node_id));
  members_.insert(i, std::move(node_id));
  return true;
}

bool ring::erase(std::string_view node_id) {
  auto i = std::lower_bound(members_.begin(), members_.end(), node_id);
  if (i == members_.end() || *i != node_id)
    return false;
  hashes_.erase(hashes_.begin() + (i - members_.begin()));
  members_.erase(i);
  return true;
}

bool ring::contains(std::string_view node_id) const {
  return std::binary_search(members_.begin(), members_.end(), node_id);
}

uint64_t ring::node_hash(std::string_view node_id) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : node_id)
    h = (h ^ c) * 1099511628211ull;
  return finalize(h);
}

uint64_t ring::weight(uint64_t key_hash, uint64_t node_hash) {
  // Mixing the key first keeps weights well spread even for a weak key hash;
  // the second finalize makes the result depend on all bits of both.
  return finalize(finalize(key_hash) ^ node_hash);
}

size_t ring::owner_index(uint64_t key_hash) const {
  size_t best = 0;
  uint64_t best_weight = weight(key_hash, hashes_[0]);
  // members_ is sorted, so keeping the first maximum breaks ties toward the smaller id.
  for (size_t i = 1; i < hashes_.size(); ++i) {
    auto w = weight(key_hash, hashes_[i]);
    if (w > best_weight) {
      best = i;
      best_weight = w;
    }
  }
  return best;
}

std::vector<std::string> ring::owners(uint64_t key_hash, size_t n) const {
  std::vector<std::pair<uint64_t, size_t>> ranked;
  ranked.reserve(members_.size());
  for (size_t i = 0; i < members_.size(); ++i)
    ranked.emplace_back(weight(key_hash, hashes_[i]), i);
  n = std::min(n, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + n, ranked.end(), [](auto& a, auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::string> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i)
    out.push_back(members_[ranked[i].second]);
  return out;
}

}  // namespace dmon
