// replica_set: newer-wins replica entries, persisted in the store's replicas family.
#include "replica_set.hpp"

#include <cstdio>

#include "key_table.hpp"
#include "state_slices.hpp"

namespace dmon {

namespace {

std::string state_store_key(uint64_t h) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return replica_set::state_prefix + std::string{hex};
}

int64_t time_of(const event& e) {
  return e.time_us ? *e.time_us : INT64_MIN;
}

bool is_delete(const event& e) {
  return e.state && *e.state == "expired";
}

}  // namespace

replica_set::replica_set(store* db, double default_ttl)
    : db_(db), mem_(std::make_unique<index>(default_ttl)) {}

status replica_set::load() {
  auto held = db_->load_replicas();
  if (!held)
    return held.error();
  for (auto& e : *held)
    mem_->insert(std::move(e));
  auto states = db_->list_state(state_prefix);
  if (!states)
    return states.error();
  for (auto& [key, bytes] : *states) {
    auto s = state_slices::decode(bytes);
    if (!s || s->size() != 1)
      return error{ec::storage_failure, "replica stream state '" + key + "' does not decode: " +
                                            (s ? std::string{"not one slice"} : s.error().message)};
    auto h = state_slices::key_hash(s->front());
    states_[h] = std::move(s->front());
  }
  return std::monostate{};
}

status replica_set::put_states(std::span<const key_state> slices) {
  std::vector<std::pair<std::string, std::string>> puts;
  for (auto& s : slices)
    puts.emplace_back(state_store_key(state_slices::key_hash(s)),
                      state_slices::encode(std::span<const key_state>{&s, 1}));
  if (puts.empty())
    return std::monostate{};
  if (auto w = db_->write_states(puts, {}); !w)
    return w.error();
  for (auto& s : slices)
    states_[state_slices::key_hash(s)] = s;
  return std::monostate{};
}

status replica_set::erase_states(std::span<const key_state> slices) {
  std::vector<std::string> deletes;
  for (auto& s : slices)
    deletes.push_back(state_store_key(state_slices::key_hash(s)));
  if (deletes.empty())
    return std::monostate{};
  if (auto w = db_->write_states({}, deletes); !w)
    return w.error();
  for (auto& s : slices)
    states_.erase(state_slices::key_hash(s));
  return std::monostate{};
}

std::vector<key_state> replica_set::states() const {
  std::vector<key_state> out;
  out.reserve(states_.size());
  for (auto& [h, s] : states_)
    out.push_back(s);
  return out;
}

result<size_t> replica_set::apply(std::span<const event> entries) {
  // The last entry per key (found by key hash, as commit_group does for the index), then
  // newer-wins against what is held; no key string is built here (the store encodes the
  // RocksDB key straight into its batch).
  key_table<uint32_t> last;
  last.reserve(entries.size());
  std::vector<std::pair<uint64_t, const event*>> latest;
  latest.reserve(entries.size());
  for (auto& e : entries) {
    auto hash = index_key::hash(e);
    auto [at, added] = last.find_or_add(
        hash,
        [&](uint32_t p) {
          return latest[p].second->host == e.host && latest[p].second->service == e.service;
        },
        [&] { return static_cast<uint32_t>(latest.size()); });
    if (added)
      latest.emplace_back(hash, &e);
    else
      latest[at].second = &e;
  }
  std::vector<replica_write> writes;
  std::vector<index::change> changes;
  auto now = now_micros();
  for (auto& [hash, e] : latest) {
    auto held = mem_->time_at(hash, *e);
    if (is_delete(*e)) {
      if (held) {
        writes.push_back({e, true});
        changes.push_back({hash, *e, true});
      }
      continue;
    }
    if (held && *held > time_of(*e))
      continue;
    writes.push_back({e, false});
    changes.push_back({hash, mem_->prepare(*e, now), false});
  }
  if (writes.empty())
    return size_t{0};
  if (auto w = db_->write_replicas(writes); !w)
    return w.error();
  mem_->commit(changes);
  return changes.size();
}

status replica_set::erase(std::span<const event> entries) {
  std::vector<replica_write> writes;
  writes.reserve(entries.size());
  for (auto& e : entries)
    writes.push_back({&e, true});
  if (writes.empty())
    return std::monostate{};
  if (auto w = db_->write_replicas(writes); !w)
    return w.error();
  std::vector<index::change> changes;
  changes.reserve(entries.size());
  for (auto& e : entries)
    changes.push_back({index_key::hash(e), e, true});
  mem_->commit(changes);
  return std::monostate{};
}

std::vector<event> replica_set::all() const {
  return mem_->select([](const event&) { return true; });
}

std::vector<event> replica_set::select(const query::predicate& pred) const {
  return mem_->select(pred);
}

}  // namespace dmon
