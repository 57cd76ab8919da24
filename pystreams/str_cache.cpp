// Repeating event strings become shared Python str objects (see str_cache.hpp).
#include "str_cache.hpp"

#include "name_hash.hpp"

namespace dmon::event_convert {

str_cache::str_cache(size_t entries, size_t max_len, hash_fn hash)
    : max_len_(max_len), hash_(hash) {
  size_t n = 1;
  while (n < entries)
    n <<= 1;
  table_.resize(n);
  mask_ = n - 1;
}

str_cache::~str_cache() {
  for (auto& e : table_)
    Py_XDECREF(e.str);
}

PyObject* str_cache::get(std::string_view s) {
  auto n = static_cast<Py_ssize_t>(s.size());
  if (s.size() > max_len_)
    return PyUnicode_DecodeUTF8(s.data(), n, "replace");
  uint64_t h = hash_ ? hash_(s) : name_hash::of(s);
  entry& e = table_[h & mask_];
  // A cached str is compact ASCII, so its data is exactly the bytes it was decoded from.
  if (e.str && e.hash == h && PyUnicode_GET_LENGTH(e.str) == n &&
      name_hash::equal(reinterpret_cast<const char*>(PyUnicode_1BYTE_DATA(e.str)), s.data(),
                       s.size())) {
    Py_INCREF(e.str);
    return e.str;
  }
  PyObject* fresh = PyUnicode_DecodeUTF8(s.data(), n, "replace");
  if (!fresh || !PyUnicode_IS_COMPACT_ASCII(fresh))
    return fresh;  // non-ASCII (or invalid UTF-8, replaced): not cached, decoded every time
  PyObject* old = e.str;
  Py_INCREF(fresh);
  e.str = fresh;
  e.hash = h;
  Py_XDECREF(old);  // after the slot is updated: freeing a str runs no Python code, but be safe
  return fresh;
}

}  // namespace dmon::event_convert
