// dmon::regroup: the new key of a regroup() stream, its owner, and its bytes between nodes.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "event.hpp"
#include "ownership.hpp"
#include "regrouped_event.hpp"
#include "ring.hpp"

namespace dmon::regroup {

/// The hash of the key regroup(fields) builds for `e`: the listed string fields (host,
/// service, state, description; any other name is an attribute), hashed exactly as
/// ownership::key_hash hashes host and service (an absent field differs from an empty one).
/// So regroup(["host", "service"]) keeps every event on its own key's owner, and
/// regroup([]) sends everything to one owner.
uint64_t key_hash(const std::vector<std::string>& fields, const event& e);

/// The shard, among `shards`, that owns a key hash on its node (as ownership::shard_of).
size_t shard_of(uint64_t key_hash, size_t shards);

/// A batch of regrouped events split by owner, each part in the batch's order (so events of
/// one new key keep theirs).
struct split {
  /// Events this node owns, by shard.
  std::vector<regrouped_batch> local;
  /// Events other nodes own, by node id.
  std::map<std::string, regrouped_batch> remote;
};

/// Splits `batch` over `members` (empty or just `self_id`: everything is local) and then
/// over `shards` local shards.
split split_by_owner(regrouped_batch batch, const ring& members, const std::string& self_id,
                     size_t shards);

/// Bytes for a regrouped batch between nodes: a version byte, the count, each event's
/// address and key hash, then the events in event_batch_codec's encoding.
std::string encode(std::span<const regrouped_event> batch);

/// Decodes encode()'s bytes; malformed_input for truncated, forged or trailing bytes.
result<regrouped_batch> decode(std::string_view bytes);

}  // namespace dmon::regroup
