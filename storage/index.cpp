// In-memory index; the persistent RocksDB layer builds on the same rules.
#include "index.hpp"

#include <mutex>

namespace dmon {

namespace {

void append_part(std::string& out, const std::optional<std::string>& part) {
  if (part) {
    out.push_back('\1');
    out.append(*part);
  }
  out.push_back('\0');
}

}  // namespace

std::string index_key::encode() const {
  std::string out;
  out.reserve(2 + (host ? host->size() + 1 : 0) + (service ? service->size() + 1 : 0));
  append_part(out, host);
  append_part(out, service);
  return out;
}

std::optional<event> index::insert(event e) {
  auto key = index_key::of(e).encode();
  if (e.state && *e.state == "expired") {
    std::unique_lock lock{mtx_};
    entries_.erase(key);
    return std::nullopt;
  }
  if (!e.ttl)
    e.ttl = default_ttl_;
  if (!e.time_us)
    e.time_us = now_micros();
  std::unique_lock lock{mtx_};
  auto& slot = entries_[std::move(key)];
  slot = std::move(e);
  return slot;
}

bool index::remove(const index_key& key) {
  std::unique_lock lock{mtx_};
  return entries_.erase(key.encode()) > 0;
}

std::optional<event> index::lookup(const index_key& key) const {
  std::shared_lock lock{mtx_};
  auto i = entries_.find(key.encode());
  if (i == entries_.end())
    return std::nullopt;
  return i->second;
}

std::vector<event> index::select(const std::function<bool(const event&)>& pred) const {
  std::vector<event> out;
  std::shared_lock lock{mtx_};
  for (auto& [k, e] : entries_)
    if (pred(e))
      out.push_back(e);
  return out;
}

std::vector<event> index::expire(int64_t now_us) {
  std::vector<event> out;
  std::unique_lock lock{mtx_};
  for (auto i = entries_.begin(); i != entries_.end();) {
    double ttl = i->second.ttl.value_or(default_ttl_);
    if (static_cast<double>(now_us - i->second.time_us.value_or(0)) > ttl * 1e6) {
      out.push_back(std::move(i->second));
      i = entries_.erase(i);
    } else {
      ++i;
    }
  }
  return out;
}

size_t index::size() const {
  std::shared_lock lock{mtx_};
  return entries_.size();
}

}  // namespace dmon
