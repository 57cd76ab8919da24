// dmon::ring: which node owns a key, by rendezvous (highest-random-weight) hashing over live
// members.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dmon {

/// The set of live cluster members and the key -> node function over it.
///
/// Every member gets a weight per key, `weight(key_hash, node_hash(id))`; the
/// member with the highest weight owns the key, the next ones in descending
/// weight are its replicas. Adding or removing a member therefore moves only the
/// keys it wins or held (about 1/N of them), and every node computes the same
/// owner from the same member list: all hashes are fixed functions of bytes,
/// independent of process, platform and insertion order. Ties (practically
/// impossible) go to the smaller node id.
///
/// The key hash is `ownership::key_hash(event)`; the shard on the owning node is
/// still `ownership::shard_of`, so node and shard choices stay independent.
/// A plain value: the router keeps one and replaces it when membership changes.
class ring {
 public:
  ring() = default;

  /// Builds a ring over `members` (duplicates are dropped).
  explicit ring(std::vector<std::string> members);

  /// Adds a member; returns false if it was there already.
  bool insert(std::string node_id);

  /// Removes a member; returns false if it was not there.
  bool erase(std::string_view node_id);

  bool contains(std::string_view node_id) const;

  size_t size() const { return members_.size(); }

  bool empty() const { return members_.empty(); }

  /// Returns the members sorted by node id.
  const std::vector<std::string>& members() const { return members_; }

  /// Returns the position in members() of the key's owner. Precondition: !empty().
  size_t owner_index(uint64_t key_hash) const;

  /// Returns the node id owning the key. Precondition: !empty().
  const std::string& owner(uint64_t key_hash) const { return members_[owner_index(key_hash)]; }

  /// Returns up to `n` distinct members in rendezvous order: the owner first, then
  /// the members that would own the key if the ones before them left (replicas).
  std::vector<std::string> owners(uint64_t key_hash, size_t n) const;

  /// A 64-bit hash of a node id, stable across processes (FNV-1a, then a mixer).
  static uint64_t node_hash(std::string_view node_id);

  /// The rendezvous weight of a member for a key.
  static uint64_t weight(uint64_t key_hash, uint64_t node_hash);

 private:
  // Sorted by id, with hashes_[i] = node_hash(members_[i]).
  std::vector<std::string> members_;
  std::vector<uint64_t> hashes_;
};

}  // namespace dmon
