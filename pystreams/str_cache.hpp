// A bounded cache of Python str objects for event string values that repeat; callers hold the GIL.
#pragma once

#include <Python.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace dmon::event_convert {

/// Direct-mapped table from UTF-8 bytes to a str decoded from them ("replace" for invalid
/// bytes, as PyUnicode_DecodeUTF8 does). Monitoring values (host, service, state) repeat
/// heavily, so most dicts share their value strings instead of decoding fresh ones; str is
/// immutable, so sharing cannot be observed except through `is`. Only ASCII results up to
/// `max_len` bytes are kept: their bytes are the str's own data, so a hit is a byte compare
/// against the cached object with nothing else stored. A miss replaces the slot's entry.
class str_cache {
 public:
  using hash_fn = uint64_t (*)(std::string_view);

  /// `entries` is rounded up to a power of two. `hash` replaces the inline name hash, so
  /// tests can force collisions.
  explicit str_cache(size_t entries, size_t max_len = 64, hash_fn hash = nullptr);
  ~str_cache();  // releases the cached strings: destroy only with the GIL held
  str_cache(const str_cache&) = delete;
  str_cache& operator=(const str_cache&) = delete;

  /// A new reference to a str equal to decoding `s`, or nullptr with a Python error set.
  PyObject* get(std::string_view s);

 private:
  struct entry {
    uint64_t hash = 0;
    PyObject* str = nullptr;  // strong reference; compact ASCII
  };
  std::vector<entry> table_;
  size_t mask_;
  size_t max_len_;
  hash_fn hash_;  // nullptr: name_hash::of, inlined
};

}  // namespace dmon::event_convert
