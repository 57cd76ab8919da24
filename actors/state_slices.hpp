// dmon::state_slices: per-key stream-state slices between nodes: their key hash and byte encoding.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "error.hpp"
#include "key_state.hpp"

namespace dmon::state_slices {

/// The key hash of a slice: its key's values hashed in order as ownership's hasher does, so
/// `(host, service)` gives ownership::key_hash of an event with that host and service, and a
/// regroup key regroup::key_hash of its events: the ring places a key's state where it
/// places its events.
uint64_t key_hash(const key_state& s);

/// Slices as bytes for a cluster message: a version byte, a count, then per slice which of
/// host and service are present, their bytes and the JSON text (lengths as 32-bit LE).
/// Version 2 (only when a slice has `values`) adds the values of such a slice (a count, then
/// per value whether it is present and its bytes); version 1 is written otherwise, so nodes
/// of the previous version read what is not regroup state.
std::string encode(std::span<const key_state> slices);

/// The slices back (either version); malformed_input for truncated, forged or trailing bytes.
result<std::vector<key_state>> decode(std::string_view bytes);

/// A 64-bit digest of a slice's JSON (FNV-1a): the keeper re-sends a key's state to its
/// replicas only when this changed.
uint64_t digest(const key_state& s);

}  // namespace dmon::state_slices
