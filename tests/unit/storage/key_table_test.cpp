// Tests of key_table: lookups, inserts and erases against a std::map model, with colliding hashes.
#include "key_table.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>

using namespace dmon;

namespace {

// Values are the keys themselves; `bucket` squeezes many keys onto one hash.
struct model_test {
  key_table<uint64_t> table;
  std::map<uint64_t, bool> model;
  uint64_t (*hash_of)(uint64_t);

  bool has(uint64_t k) const {
    return table.find(hash_of(k), [&](uint64_t v) { return v == k; }) != nullptr;
  }
  bool add(uint64_t k) {
    auto [v, added] = table.find_or_add(
        hash_of(k), [&](uint64_t v) { return v == k; }, [&] { return k; });
    EXPECT_EQ(v, k);
    return added;
  }
  bool erase(uint64_t k) {
    return table.erase(hash_of(k), [&](uint64_t v) { return v == k; });
  }
};

void run_model(uint64_t (*hash_of)(uint64_t), uint64_t keys, int steps) {
  model_test t{{}, {}, hash_of};
  std::mt19937_64 rng{7};
  for (int i = 0; i < steps; ++i) {
    uint64_t k = rng() % keys;
    switch (rng() % 3) {
      case 0:
        EXPECT_EQ(t.add(k), !t.model.count(k)) << k;
        t.model[k] = true;
        break;
      case 1:
        EXPECT_EQ(t.erase(k), t.model.erase(k) == 1) << k;
        break;
      default:
        EXPECT_EQ(t.has(k), t.model.count(k) == 1) << k;
    }
    ASSERT_EQ(t.table.size(), t.model.size());
  }
  // Every key the model holds is found, and nothing else.
  for (uint64_t k = 0; k < keys; ++k)
    ASSERT_EQ(t.has(k), t.model.count(k) == 1) << k;
  size_t seen = 0;
  t.table.for_each([&](uint64_t v) {
    EXPECT_TRUE(t.model.count(v)) << v;
    ++seen;
  });
  EXPECT_EQ(seen, t.model.size());
}

}  // namespace

TEST(key_table, agrees_with_a_model_under_inserts_and_erases) {
  run_model([](uint64_t k) { return uint64_t{k * 0x9e3779b97f4a7c15ull}; }, 5000, 100000);
}

TEST(key_table, tells_keys_with_one_hash_apart_by_the_predicate) {
  // Seven hashes for every key: long runs of equal hashes, and erases inside them.
  run_model([](uint64_t k) { return uint64_t{k % 7}; }, 300, 20000);
}

TEST(key_table, keeps_a_key_whose_hash_is_zero) {
  run_model([](uint64_t) { return uint64_t{0}; }, 50, 2000);
}

TEST(key_table, clear_empties_and_the_table_is_usable_again) {
  key_table<uint64_t> t;
  auto same = [](uint64_t k) { return [k](uint64_t v) { return v == k; }; };
  for (uint64_t k = 0; k < 10000; ++k)
    t.find_or_add(k * 31, same(k), [k] { return k; });
  EXPECT_EQ(t.size(), 10000u);
  auto big = t.bytes();
  t.clear();
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.find(31, same(1)), nullptr);
  t.find_or_add(62, same(2), [] { return uint64_t{2}; });
  t.clear();
  // A clear after a small use gives back the room a burst had taken.
  EXPECT_LT(t.bytes(), big);
  EXPECT_TRUE(t.empty());
}

// guess() is a prefetching hint: the value in the hash's home slot when that slot holds the
// hash, whoever's value it is; null for an empty table, an absent hash, or a displaced one.
TEST(key_table, guess_gives_the_home_slot_value_of_a_hash_or_null) {
  key_table<uint64_t> t;
  EXPECT_EQ(t.guess(5), nullptr);
  t.prefetch(5);  // harmless on an empty table
  auto always = [](uint64_t) { return true; };
  t.find_or_add(16 * 3 + 5, always, [] { return uint64_t{100}; });
  // Same home slot (the low bits), another hash: displaced to the next slot.
  t.find_or_add(
      16 * 7 + 5, [](uint64_t v) { return v == 200; }, [] { return uint64_t{200}; });
  ASSERT_NE(t.guess(16 * 3 + 5), nullptr);
  EXPECT_EQ(*t.guess(16 * 3 + 5), 100u);
  EXPECT_EQ(t.guess(16 * 7 + 5), nullptr);  // not in its home slot: no guess
  EXPECT_EQ(t.guess(6), nullptr);
  t.prefetch(16 * 3 + 5);
  EXPECT_NE(t.find(16 * 7 + 5, [](uint64_t v) { return v == 200; }), nullptr);
}
