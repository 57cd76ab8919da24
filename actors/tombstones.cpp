// tombstones: latest-delete-wins per key, persisted under one state prefix, reaped by age.
#include "tombstones.hpp"

#include "event_encoding.hpp"
#include "index.hpp"
#include "ownership.hpp"

namespace dmon {

namespace {

int64_t time_of(const event& e) {
  return e.time_us ? *e.time_us : INT64_MIN;
}

// A delete reduced to what a tombstone needs: the key and the time.
event reduced(const event& e) {
  event d;
  d.host = e.host;
  d.service = e.service;
  d.state = "expired";
  d.time_us = e.time_us;
  return d;
}

}  // namespace

tombstones::tombstones(store* db, std::chrono::microseconds horizon)
    : db_(db), horizon_us_(horizon.count()) {}

bool tombstones::is_delete(const event& e) {
  return e.state && *e.state == "expired" && e.time_us;
}

status tombstones::load(int64_t now_us) {
  auto held = db_->list_state(prefix);
  if (!held)
    return held.error();
  std::vector<std::string> stale;
  for (auto& [key, bytes] : *held) {
    auto e = storage_encoding::decode(bytes);
    if (!e)
      return error{ec::storage_failure, "tombstone '" + key.substr(std::string{prefix}.size()) +
                                            "' does not decode: " + e.error().message +
                                            "; delete it or the data directory's state"};
    if (*e->time_us < now_us - horizon_us_)
      stale.push_back(key);
    else
      held_[key.substr(std::string{prefix}.size())] = std::move(*e);
  }
  if (!stale.empty())
    return db_->write_states({}, stale);
  return std::monostate{};
}

result<size_t> tombstones::record(std::span<const event> entries, int64_t now_us) {
  std::unordered_map<std::string, event> later;
  for (auto& e : entries) {
    if (!is_delete(e) || *e.time_us < now_us - horizon_us_)
      continue;
    auto k = index_key::encode(e);
    if (auto h = held_.find(k); h != held_.end() && time_of(h->second) >= *e.time_us)
      continue;
    if (auto l = later.find(k); l != later.end() && time_of(l->second) >= *e.time_us)
      continue;
    later[k] = reduced(e);
  }
  if (later.empty())
    return size_t{0};
  std::vector<std::pair<std::string, std::string>> puts;
  puts.reserve(later.size());
  for (auto& [k, d] : later)
    puts.emplace_back(prefix + k, storage_encoding::encode(d));
  if (auto w = db_->write_states(puts, {}); !w)
    return w.error();
  for (auto& [k, d] : later)
    held_[k] = std::move(d);
  return later.size();
}

bool tombstones::buries(const event& e) const {
  if (held_.empty() || (e.state && *e.state == "expired"))
    return false;
  auto h = held_.find(index_key::encode(e));
  return h != held_.end() && dmon::buries(*h->second.time_us, time_of(e));
}

size_t tombstones::bury(std::vector<event>& entries) const {
  return std::erase_if(entries, [this](const event& e) { return buries(e); });
}

std::vector<event> tombstones::all() const {
  std::vector<event> out;
  out.reserve(held_.size());
  for (auto& [k, d] : held_)
    out.push_back(d);
  return out;
}

result<size_t> tombstones::reap(int64_t now_us) {
  std::vector<std::string> stale;
  for (auto& [k, d] : held_)
    if (*d.time_us < now_us - horizon_us_)
      stale.push_back(k);
  if (stale.empty())
    return size_t{0};
  std::vector<std::string> keys;
  keys.reserve(stale.size());
  for (auto& k : stale)
    keys.push_back(prefix + k);
  if (auto w = db_->write_states({}, keys); !w)
    return w.error();
  for (auto& k : stale)
    held_.erase(k);
  return stale.size();
}

std::map<std::string, std::vector<event>> plan_tombstones(const cluster_view& prev,
                                                          const cluster_view& next,
                                                          std::span<const event> held) {
  std::map<std::string, std::vector<event>> out;
  if (!next.clustered())
    return out;
  auto is_new = [&](const std::string& m) {
    return m != next.self() && !prev.members().contains(m) && !prev.is_leaving(m);
  };
  for (auto& d : held) {
    auto h = ownership::key_hash(d);
    if (auto& o = next.owner(h); is_new(o))
      out[o].push_back(d);
    for (auto& r : next.replicas(h))
      if (is_new(r))
        out[r].push_back(d);
  }
  return out;
}

}  // namespace dmon
