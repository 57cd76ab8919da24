// The in-memory expiry order: a lazily corrected min-heap of deadlines.
#include "expiry_schedule.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_set>

namespace dmon {

namespace {

// std::*_heap build a max-heap; this order puts the earliest deadline on top.
template <class T>
bool later(const T& a, const T& b) {
  return a.deadline > b.deadline;
}

}  // namespace

expiry_schedule::slot expiry_schedule::make_slot(int64_t deadline, std::string_view key) {
  auto n = static_cast<uint32_t>(key.size());
  std::unique_ptr<char[]> bytes{new char[sizeof n + key.size()]};
  std::memcpy(bytes.get(), &n, sizeof n);
  std::memcpy(bytes.get() + sizeof n, key.data(), key.size());
  return {deadline, std::move(bytes)};
}

std::string_view expiry_schedule::key_of(const slot& s) {
  uint32_t n;
  std::memcpy(&n, s.key.get(), sizeof n);
  return {s.key.get() + sizeof n, n};
}

void expiry_schedule::schedule(int64_t deadline, std::string key) {
  heap_.push_back(make_slot(deadline, key));
  std::push_heap(heap_.begin(), heap_.end(), later<slot>);
}

void expiry_schedule::append(int64_t deadline, std::string_view key) {
  heap_.push_back(make_slot(deadline, key));
}

void expiry_schedule::heapify() {
  std::make_heap(heap_.begin(), heap_.end(), later<slot>);
}

void expiry_schedule::load(std::vector<entry> entries) {
  heap_.reserve(heap_.size() + entries.size());
  for (auto& e : entries)
    append(e.deadline, e.key);
  heapify();
}

std::vector<expiry_schedule::entry> expiry_schedule::due(
    int64_t now_us, const std::function<std::optional<int64_t>(const std::string&)>& deadline_of) {
  std::vector<entry> out;
  std::unordered_set<std::string> taken;
  // Strictly below now: Riemann's `now - time > ttl` is `now > deadline`.
  while (!heap_.empty() && heap_.front().deadline < now_us) {
    std::pop_heap(heap_.begin(), heap_.end(), later<slot>);
    slot s = std::move(heap_.back());
    heap_.pop_back();
    std::string key{key_of(s)};
    auto real = deadline_of(key);
    if (!real || taken.count(key))
      continue;
    if (*real < now_us) {
      taken.insert(key);
      out.push_back({*real, std::move(key)});
    } else {
      // Re-indexed since with a later deadline: file it there; it is not below
      // now, so this loop does not meet it again.
      s.deadline = *real;
      heap_.push_back(std::move(s));
      std::push_heap(heap_.begin(), heap_.end(), later<slot>);
    }
  }
  // Oldest real deadline first, as the reaper reports them.
  std::stable_sort(out.begin(), out.end(),
                   [](const entry& a, const entry& b) { return a.deadline < b.deadline; });
  return out;
}

void expiry_schedule::restore(std::vector<entry> entries) {
  for (auto& e : entries)
    schedule(e.deadline, std::move(e.key));
}

}  // namespace dmon
