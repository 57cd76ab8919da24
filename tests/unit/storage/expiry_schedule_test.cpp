// Tests of the in-memory expiry order: due keys oldest first, lazy re-filing, restore.
#include "expiry_schedule.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>

using namespace dmon;

namespace {

// Stands in for the index: the real deadline of each live key.
struct fake_index {
  std::map<std::string, int64_t> deadlines;
  std::optional<int64_t> operator()(const std::string& key) const {
    auto i = deadlines.find(key);
    if (i == deadlines.end())
      return std::nullopt;
    return i->second;
  }
};

std::vector<std::string> keys_of(const std::vector<expiry_schedule::entry>& entries) {
  std::vector<std::string> out;
  for (auto& e : entries)
    out.push_back(e.key);
  return out;
}

}  // namespace

TEST(expiry_schedule, due_returns_keys_strictly_past_their_deadline_oldest_first) {
  expiry_schedule s;
  fake_index idx;
  for (auto [key, d] : {std::pair{"c", 30}, {"a", 10}, {"b", 20}}) {
    idx.deadlines[key] = d;
    s.schedule(d, key);
  }
  EXPECT_TRUE(s.due(10, std::cref(idx)).empty()) << "now == deadline is not expired";
  auto due = s.due(31, std::cref(idx));
  EXPECT_EQ(keys_of(due), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(due[0].deadline, 10);
  EXPECT_EQ(s.size(), 0u);
}

TEST(expiry_schedule, a_key_whose_deadline_moved_later_is_refiled_not_returned) {
  expiry_schedule s;
  fake_index idx;
  idx.deadlines["a"] = 10;
  s.schedule(10, "a");
  idx.deadlines["a"] = 50;  // re-indexed later: the owner files nothing new
  EXPECT_TRUE(s.due(20, std::cref(idx)).empty());
  EXPECT_EQ(s.size(), 1u) << "filed again under its real deadline";
  EXPECT_TRUE(s.due(50, std::cref(idx)).empty());
  EXPECT_EQ(keys_of(s.due(51, std::cref(idx))), std::vector<std::string>{"a"});
}

TEST(expiry_schedule, keys_that_are_gone_are_dropped_and_duplicates_returned_once) {
  expiry_schedule s;
  fake_index idx;
  idx.deadlines["a"] = 5;
  s.schedule(20, "a");
  s.schedule(5, "a");  // moved earlier: a second entry
  s.schedule(7, "gone");
  auto due = s.due(100, std::cref(idx));
  EXPECT_EQ(keys_of(due), std::vector<std::string>{"a"});
  EXPECT_EQ(s.size(), 0u);
}

TEST(expiry_schedule, restore_files_returned_entries_for_the_next_sweep) {
  expiry_schedule s;
  fake_index idx;
  idx.deadlines["a"] = 1;
  s.schedule(1, "a");
  auto due = s.due(2, std::cref(idx));
  ASSERT_EQ(due.size(), 1u);
  s.restore(std::move(due));
  EXPECT_EQ(keys_of(s.due(2, std::cref(idx))), std::vector<std::string>{"a"});
}

TEST(expiry_schedule, load_builds_the_order_in_one_go) {
  expiry_schedule s;
  fake_index idx;
  std::vector<expiry_schedule::entry> entries;
  for (int i = 0; i < 100; ++i) {
    auto key = "k" + std::to_string(i);
    idx.deadlines[key] = (i * 37) % 100;
    entries.push_back({(i * 37) % 100, key});
  }
  s.load(std::move(entries));
  auto due = s.due(50, std::cref(idx));
  ASSERT_EQ(due.size(), 50u);
  for (size_t i = 1; i < due.size(); ++i)
    EXPECT_LE(due[i - 1].deadline, due[i].deadline);
}

// Random re-indexing under the owner's rule (file a key when new or moved earlier) must
// expire exactly the keys a full scan would.
TEST(expiry_schedule, agrees_with_a_full_scan_under_random_updates) {
  std::mt19937 rng{7};
  expiry_schedule s;
  fake_index idx;
  int64_t now = 0;
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 50; ++i) {
      auto key = "k" + std::to_string(rng() % 100);
      if (rng() % 10 == 0) {
        idx.deadlines.erase(key);
        continue;
      }
      int64_t d = now + static_cast<int64_t>(rng() % 40);
      auto old = idx(key);
      idx.deadlines[key] = d;
      if (!old || d < *old)
        s.schedule(d, key);
    }
    now += 3;
    std::vector<std::string> expected;
    for (auto& [k, d] : idx.deadlines)
      if (d < now)
        expected.push_back(k);
    auto got = keys_of(s.due(now, std::cref(idx)));
    std::sort(got.begin(), got.end());
    ASSERT_EQ(got, expected) << "round " << round;
    for (auto& k : got)
      idx.deadlines.erase(k);
  }
}

// The common case, events arriving with ever later times: one entry per key however often
// each is re-indexed, so the schedule costs no memory per update.
TEST(expiry_schedule, re_indexing_with_later_deadlines_keeps_one_entry_per_key) {
  expiry_schedule s;
  fake_index idx;
  for (int64_t t = 0; t < 100; ++t) {
    for (int k = 0; k < 50; ++k) {
      auto key = "k" + std::to_string(k);
      auto old = idx(key);
      idx.deadlines[key] = t + 10;
      if (!old || t + 10 < *old)
        s.schedule(t + 10, key);
    }
    EXPECT_TRUE(s.due(t, std::cref(idx)).empty());
    EXPECT_EQ(s.size(), 50u);
  }
}
