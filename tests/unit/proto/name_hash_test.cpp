// name_hash: equal names hash and compare equal whatever follows them in memory; a name that
// differs in any one byte, at any length, compares unequal and (in practice) hashes apart.
#include "name_hash.hpp"

#include <gtest/gtest.h>

#include <string>

namespace nh = dmon::name_hash;

namespace {

// `name` placed in a buffer with `fill` bytes after it, as a slice of a longer string.
std::string_view placed(std::string& buffer, const std::string& name, char fill) {
  buffer = name + std::string(24, fill);
  return std::string_view{buffer}.substr(0, name.size());
}

std::string name_of(size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i)
    s.push_back(static_cast<char>('a' + i % 26));
  return s;
}

}  // namespace

TEST(name_hash, hash_and_equality_ignore_the_bytes_after_a_name) {
  for (size_t n = 0; n <= 40; ++n) {
    std::string a_buf, b_buf;
    auto a = placed(a_buf, name_of(n), 'x');
    auto b = placed(b_buf, name_of(n), 'y');
    EXPECT_EQ(nh::of(a), nh::of(b)) << n;
    EXPECT_TRUE(nh::equal(a.data(), b.data(), n)) << n;
  }
}

TEST(name_hash, one_different_byte_anywhere_is_told_apart) {
  for (size_t n = 1; n <= 40; ++n) {
    std::string base = name_of(n);
    for (size_t at = 0; at < n; ++at) {
      for (char to : {'A', '\0', '\xff'}) {
        std::string other = base;
        other[at] = to;
        EXPECT_FALSE(nh::equal(base.data(), other.data(), n)) << n << " at " << at;
        EXPECT_NE(nh::of(base), nh::of(other)) << n << " at " << at;
      }
    }
  }
}

TEST(name_hash, the_length_counts) {
  // "" vs "\0" vs "\0\0": the same bytes read as words, told apart by the length alone.
  std::string zeros(20, '\0');
  for (size_t n = 0; n < 20; ++n)
    EXPECT_NE(nh::of(std::string_view{zeros}.substr(0, n)),
              nh::of(std::string_view{zeros}.substr(0, n + 1)))
        << n;
}
