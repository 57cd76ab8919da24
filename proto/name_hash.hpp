// A fast inline hash and equality of short event names (hosts, services, states) for this process's
// tables.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace dmon::name_hash {

namespace detail {

inline uint64_t load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

inline uint64_t load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// The 128-bit product folded to 64 bits: every input bit reaches most output bits.
inline uint64_t fold_mul(uint64_t a, uint64_t b) {
  auto r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

}  // namespace detail

/// std::hash and a byte loop call out or chain a multiply per byte; names are short, so a
/// name of up to 16 bytes is read whole as two overlapping words (as wyhash does) and folded
/// once, longer ones 16 bytes at a time. Never reads outside `s`. Not stable across builds:
/// it only places keys in this process's tables, which compare names on equal hashes.
inline uint64_t of(std::string_view s) {
  using namespace detail;
  constexpr uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull;
  const char* p = s.data();
  size_t n = s.size();
  uint64_t seed = k0 ^ (n * k1);
  uint64_t a = 0, b = 0;
  if (n > 16) {
    // The last 16 bytes close it, read back from the end: never past it.
    const char* last = p + n - 16;
    for (; p < last; p += 16)
      seed = fold_mul(load64(p) ^ k1, load64(p + 8) ^ seed);
    a = load64(last);
    b = load64(last + 8);
  } else if (n >= 8) {
    a = load64(p);
    b = load64(p + n - 8);
  } else if (n >= 4) {
    a = load32(p);
    b = load32(p + n - 4);
  } else if (n > 0) {
    a = (uint64_t{static_cast<unsigned char>(p[0])} << 16) |
        (uint64_t{static_cast<unsigned char>(p[n >> 1])} << 8) |
        static_cast<unsigned char>(p[n - 1]);
  }
  return fold_mul(a ^ k1, b ^ seed);
}

/// Whether `n` bytes at `a` and `b` are equal, inline for names up to 16 bytes (the same
/// overlapping words as `of`); a libc memcmp call costs more than the compare itself there.
inline bool equal(const char* a, const char* b, size_t n) {
  using namespace detail;
  if (n > 16)
    return std::memcmp(a, b, n) == 0;
  if (n >= 8)
    return load64(a) == load64(b) && load64(a + n - 8) == load64(b + n - 8);
  if (n >= 4)
    return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i])
      return false;
  return true;
}

}  // namespace dmon::name_hash
