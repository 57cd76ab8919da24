// The in-memory expiry order: a lazily corrected min-heap of deadlines.
#include "expiry_schedule.hpp"

#include <algorithm>
#include <unordered_set>

namespace dmon {

namespace {

// std::*_heap build a max-heap; this order puts the earliest deadline on top.
bool later(const expiry_schedule::entry& a, const expiry_schedule::entry& b) {
  return a.deadline > b.deadline;
}

}  // namespace

void expiry_schedule::schedule(int64_t deadline, std::string key) {
  heap_.push_back({deadline, std::move(key)});
  std::push_heap(heap_.begin(), heap_.end(), later);
}

void expiry_schedule::load(std::vector<entry> entries) {
  if (heap_.empty()) {
    heap_ = std::move(entries);
  } else {
    for (auto& e : entries)
      heap_.push_back(std::move(e));
  }
  std::make_heap(heap_.begin(), heap_.end(), later);
}

std::vector<expiry_schedule::entry> expiry_schedule::due(
    int64_t now_us, const std::function<std::optional<int64_t>(const std::string&)>& deadline_of) {
  std::vector<entry> out;
  std::unordered_set<std::string> taken;
  // Strictly below now: Riemann's `now - time > ttl` is `now > deadline`.
  while (!heap_.empty() && heap_.front().deadline < now_us) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    entry e = std::move(heap_.back());
    heap_.pop_back();
    auto real = deadline_of(e.key);
    if (!real || taken.count(e.key))
      continue;
    if (*real < now_us) {
      taken.insert(e.key);
      e.deadline = *real;
      out.push_back(std::move(e));
    } else {
      // Re-indexed since with a later deadline: file it there; it is not below
      // now, so this loop does not meet it again.
      schedule(*real, std::move(e.key));
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
