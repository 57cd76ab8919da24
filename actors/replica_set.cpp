// replica_set: newer-wins replica entries, persisted under one state prefix.
#include "replica_set.hpp"

#include <cstdio>
#include <unordered_map>

#include "event_encoding.hpp"
#include "state_slices.hpp"

namespace dmon {

namespace {

std::string state_key(const event& e) {
  return replica_set::prefix + index_key::of(e).encode();
}

std::string state_store_key(uint64_t h) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return replica_set::state_prefix + std::string{hex};
}

int64_t time_of(const event& e) {
  return e.time_us ? *e.time_us : INT64_MIN;
}

}  // namespace

replica_set::replica_set(store* db, double default_ttl)
    : db_(db), mem_(std::make_unique<index>(default_ttl)) {}

status replica_set::load() {
  auto held = db_->list_state(prefix);
  if (!held)
    return held.error();
  for (auto& [key, bytes] : *held) {
    auto e = storage_encoding::decode(bytes);
    if (!e)
      return error{ec::storage_failure, "replica entry '" + key.substr(std::string{prefix}.size()) +
                                            "' does not decode: " + e.error().message};
    mem_->insert(std::move(*e));
  }
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
  // Last write per key within the batch, then newer-wins against what is held.
  std::unordered_map<std::string, const event*> last;
  std::vector<std::string> order;
  for (auto& e : entries) {
    auto k = index_key::of(e).encode();
    auto [it, inserted] = last.try_emplace(k, &e);
    if (inserted)
      order.push_back(std::move(k));
    else
      it->second = &e;
  }
  std::vector<std::pair<std::string, std::string>> puts;
  std::vector<std::string> deletes;
  std::vector<const event*> changed;
  for (auto& k : order) {
    auto& e = *last[k];
    bool expired = e.state && *e.state == "expired";
    auto held = mem_->find(k);
    if (expired) {
      if (held) {
        deletes.push_back(state_key(e));
        changed.push_back(&e);
      }
      continue;
    }
    if (held && time_of(*held) > time_of(e))
      continue;
    puts.emplace_back(state_key(e), storage_encoding::encode(e));
    changed.push_back(&e);
  }
  if (puts.empty() && deletes.empty())
    return size_t{0};
  if (auto w = db_->write_states(puts, deletes); !w)
    return w.error();
  for (auto* e : changed)
    mem_->insert(*e);
  return changed.size();
}

status replica_set::erase(std::span<const event> entries) {
  std::vector<std::string> deletes;
  for (auto& e : entries)
    deletes.push_back(state_key(e));
  if (deletes.empty())
    return std::monostate{};
  if (auto w = db_->write_states({}, deletes); !w)
    return w.error();
  for (auto& e : entries)
    mem_->remove(index_key::of(e));
  return std::monostate{};
}

std::vector<event> replica_set::all() const {
  return mem_->select([](const event&) { return true; });
}

std::vector<event> replica_set::select(const query::predicate& pred) const {
  return mem_->select(pred);
}

}  // namespace dmon
