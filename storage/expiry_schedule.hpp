// dmon::expiry_schedule: the reaper's deadline order of index keys, kept in memory instead of a
// column family.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dmon {

/// A min-heap of (deadline, key) that finds every index key due for expiry
/// without a scan, at no write cost per update in the common case.
///
/// Invariant the owner keeps: every live key has at least one entry whose
/// deadline is at or before the key's real deadline. So a new key is
/// `schedule`d; a re-indexed key is scheduled again only when its deadline moved
/// earlier (a later deadline is still covered by the old entry, which `due`
/// re-files when it surfaces). Entries of deleted keys are dropped when they
/// surface. The heap therefore holds about one entry per key, and because it is
/// rebuilt from the index at open, nothing of it needs to be persisted.
/// Not thread-safe: the store calls it under its write lock.
class expiry_schedule {
 public:
  struct entry {
    int64_t deadline;
    std::string key;
  };

  /// Files `key` under `deadline`.
  void schedule(int64_t deadline, std::string key);

  /// Bulk load (at open): adds every entry and restores the heap once, O(n).
  void load(std::vector<entry> entries);

  /// Bulk load without a vector of entries in between: `append` any number of keys, then
  /// `heapify` once before anything else is called.
  void append(int64_t deadline, std::string_view key);
  void heapify();
  void reserve(size_t n) { heap_.reserve(n); }

  /// Pops every entry with `deadline < now_us`, oldest first, and returns the
  /// keys that are really due: `deadline_of(key)` is the key's current deadline
  /// (nullopt when the key is gone). A key that is gone is dropped; a key whose
  /// deadline moved past `now_us` is filed again under its real deadline; a key
  /// returned twice (two entries) is returned once. Until `confirm` or `restore`
  /// the returned entries are held aside.
  std::vector<entry> due(
      int64_t now_us, const std::function<std::optional<int64_t>(const std::string&)>& deadline_of);

  /// Files the entries `due` returned again, e.g. when deleting them failed and
  /// the next sweep must find them.
  void restore(std::vector<entry> entries);

  size_t size() const { return heap_.size(); }

 private:
  /// 16 bytes plus one small allocation holding the key's length and bytes: a std::string
  /// key would cost 32 bytes plus its own allocation (index keys are rarely under 16 bytes),
  /// about 40 bytes more per indexed key at a million keys.
  struct slot {
    int64_t deadline;
    std::unique_ptr<char[]> key;  // uint32_t length, then the bytes
  };
  static slot make_slot(int64_t deadline, std::string_view key);
  static std::string_view key_of(const slot& s);

  std::vector<slot> heap_;
};

}  // namespace dmon
