// dmon::key_table: a flat open-addressing hash table from 64-bit key hashes to small values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace dmon {

/// Maps a key's 64-bit hash to a small value (a pointer or a position) in one flat array of
/// (hash, value) slots with linear probing: a lookup is usually one cache line, where a
/// node-based `std::unordered_map<std::string, ...>` walks a chain of heap nodes and compares
/// strings (the top of the storage thread's profile). The table never sees the keys: callers
/// pass the hash and a predicate that tells whether a value is the key they mean, so two keys
/// with one hash are told apart by the predicate (it runs only on equal hashes).
/// Erasing shifts the following slots back, so there are no tombstones. Not thread-safe.
template <class V>
class key_table {
 public:
  key_table() = default;
  key_table(key_table&& o) noexcept { swap(o); }
  key_table& operator=(key_table&& o) noexcept {
    key_table tmp{std::move(o)};
    swap(tmp);
    return *this;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  /// Returns the value stored under `hash` for which `is(value)` holds, or null.
  template <class Is>
  V* find(uint64_t hash, Is&& is) {
    if (size_ == 0)
      return nullptr;
    hash = stored(hash);
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      auto& s = slots_[i];
      if (s.hash == 0)
        return nullptr;
      if (s.hash == hash && is(s.value))
        return &s.value;
    }
  }
  template <class Is>
  const V* find(uint64_t hash, Is&& is) const {
    return const_cast<key_table*>(this)->find(hash, std::forward<Is>(is));
  }

  /// Starts loading the slot where a lookup of `hash` begins, for a batch of lookups that
  /// would otherwise wait on one cache miss each (the table is far larger than the caches).
  void prefetch(uint64_t hash) const {
    if (slots_)
      __builtin_prefetch(&slots_[stored(hash) & mask_]);
  }

  /// Returns the value in the slot where a lookup of `hash` begins when that slot holds
  /// `hash`, else null, without calling a predicate: a guess at the value a find will
  /// return (e.g. to prefetch what it points to), not an answer.
  const V* guess(uint64_t hash) const {
    if (!slots_)
      return nullptr;
    hash = stored(hash);
    auto& s = slots_[hash & mask_];
    return s.hash == hash ? &s.value : nullptr;
  }

  /// Returns the value under `hash` for which `is(value)` holds, adding `make()` when there is
  /// none; the bool says whether it was added. The reference is valid until the next insert
  /// or erase.
  template <class Is, class Make>
  std::pair<V&, bool> find_or_add(uint64_t hash, Is&& is, Make&& make) {
    if ((size_ + 1) * 4 > capacity() * 3)
      grow(size_ + 1);
    hash = stored(hash);
    size_t i = hash & mask_;
    for (;; i = (i + 1) & mask_) {
      auto& s = slots_[i];
      if (s.hash == 0)
        break;
      if (s.hash == hash && is(s.value))
        return {s.value, false};
    }
    slots_[i] = {hash, make()};
    ++size_;
    return {slots_[i].value, true};
  }

  /// Removes the value under `hash` for which `is(value)` holds; returns whether there was one.
  template <class Is>
  bool erase(uint64_t hash, Is&& is) {
    if (size_ == 0)
      return false;
    hash = stored(hash);
    size_t i = hash & mask_;
    for (;; i = (i + 1) & mask_) {
      auto& s = slots_[i];
      if (s.hash == 0)
        return false;
      if (s.hash == hash && is(s.value))
        break;
    }
    // Backward shift: move each later slot of the run into the hole when the hole lies
    // between its home and its place, so every slot stays reachable from its home.
    size_t hole = i;
    for (size_t j = (i + 1) & mask_; slots_[j].hash != 0; j = (j + 1) & mask_) {
      size_t home = slots_[j].hash & mask_;
      if (((j - home) & mask_) >= ((j - hole) & mask_)) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = {};
    --size_;
    return true;
  }

  /// Calls `fn(value)` on every value, in no particular order. `fn` must not insert or erase.
  template <class F>
  void for_each(F&& fn) const {
    for (size_t i = 0; i < capacity(); ++i)
      if (slots_[i].hash != 0)
        fn(slots_[i].value);
  }

  /// Removes everything. Keeps the slots for the next use unless they are far more than the
  /// last contents needed (one burst must not make every later clear slow).
  void clear() {
    if (size_ == 0)
      return;
    size_t want = capacity_for(size_);
    if (capacity() > 4 * want) {
      slots_ = std::make_unique<slot[]>(want);
      mask_ = want - 1;
    } else {
      for (size_t i = 0; i < capacity(); ++i)
        slots_[i] = {};
    }
    size_ = 0;
  }

  /// Makes room for `n` values without growing.
  void reserve(size_t n) {
    if (capacity_for(n) > capacity())
      grow(n);
  }

  /// Bytes held by the slots.
  size_t bytes() const { return capacity() * sizeof(slot); }

  void swap(key_table& o) noexcept {
    std::swap(slots_, o.slots_);
    std::swap(mask_, o.mask_);
    std::swap(size_, o.size_);
  }

 private:
  struct slot {
    /// 0: empty. A key whose hash is 0 is stored as 1 (the predicate tells keys apart).
    uint64_t hash = 0;
    V value{};
  };

  static uint64_t stored(uint64_t hash) { return hash == 0 ? 1 : hash; }

  /// The power of two that holds `n` values at a load of at most 3/4.
  static size_t capacity_for(size_t n) {
    size_t c = 16;
    while (c * 3 < n * 4)
      c *= 2;
    return c;
  }

  size_t capacity() const { return slots_ ? mask_ + 1 : 0; }

  void grow(size_t n) {
    size_t c = capacity_for(std::max(n, 2 * size_));
    size_t old_capacity = capacity();
    auto old = std::move(slots_);
    slots_ = std::make_unique<slot[]>(c);
    mask_ = c - 1;
    for (size_t i = 0; i < old_capacity; ++i) {
      if (old[i].hash == 0)
        continue;
      size_t j = old[i].hash & mask_;
      while (slots_[j].hash != 0)
        j = (j + 1) & mask_;
      slots_[j] = old[i];
    }
  }

  std::unique_ptr<slot[]> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace dmon
