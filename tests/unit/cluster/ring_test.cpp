// ring: rendezvous ownership is deterministic, balanced, and moves only the keys whose owner
// changed.
#include "ring.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "ownership.hpp"

namespace {

uint64_t key(size_t i) {
  dmon::event e;
  e.host = "host-" + std::to_string(i);
  e.service = "cpu";
  return dmon::ownership::key_hash(e);
}

dmon::ring make_ring(size_t n) {
  std::vector<std::string> ids;
  for (size_t i = 0; i < n; ++i)
    ids.push_back("127.0.0." + std::to_string(i + 1) + ":5557");
  return dmon::ring{ids};
}

constexpr size_t keys = 30000;

}  // namespace

TEST(ring, hashes_are_pinned_so_every_node_computes_the_same_owner) {
  // Nodes of one cluster must agree: these values may never change silently.
  EXPECT_EQ(dmon::ring::node_hash("127.0.0.1:5557"), 0x3c4188fa084f546full);
  EXPECT_EQ(dmon::ring::weight(0x0123456789abcdefull, 42), 0xe8f89ba2ecd9b24dull);
  auto r = make_ring(3);
  EXPECT_EQ(r.owner(key(0)), "127.0.0.2:5557");
  EXPECT_EQ(r.owner(key(2)), "127.0.0.3:5557");
  EXPECT_EQ(r.owner(key(4)), "127.0.0.1:5557");
}

TEST(ring, owner_does_not_depend_on_insertion_order) {
  dmon::ring a{{"a", "b", "c", "d"}};
  dmon::ring b{{"d", "b", "a", "c", "b"}};
  EXPECT_EQ(a.members(), b.members());
  for (size_t i = 0; i < 1000; ++i)
    ASSERT_EQ(a.owner(key(i)), b.owner(key(i)));
}

TEST(ring, keys_spread_evenly_over_three_to_five_members) {
  for (size_t n = 3; n <= 5; ++n) {
    auto r = make_ring(n);
    std::map<std::string, size_t> counts;
    for (size_t i = 0; i < keys; ++i)
      ++counts[r.owner(key(i))];
    ASSERT_EQ(counts.size(), n);
    for (auto& [member, count] : counts) {
      double share = static_cast<double>(count) / keys;
      EXPECT_NEAR(share, 1.0 / n, 0.1 / n) << member << " of " << n;
    }
  }
}

TEST(ring, a_leaving_member_moves_only_its_own_keys) {
  for (size_t n = 3; n <= 5; ++n) {
    auto before = make_ring(n);
    auto after = before;
    auto gone = before.members()[1];
    ASSERT_TRUE(after.erase(gone));
    size_t moved = 0;
    for (size_t i = 0; i < keys; ++i) {
      auto old_owner = before.owner(key(i));
      auto new_owner = after.owner(key(i));
      if (old_owner != gone)
        ASSERT_EQ(old_owner, new_owner) << "key " << i << " moved although its owner stayed";
      else
        ++moved;
    }
    EXPECT_NEAR(static_cast<double>(moved) / keys, 1.0 / n, 0.1 / n);
  }
}

TEST(ring, a_joining_member_takes_about_one_in_n_keys_and_nothing_else_moves) {
  for (size_t n = 3; n <= 5; ++n) {
    auto before = make_ring(n - 1);
    auto after = before;
    ASSERT_TRUE(after.insert("joiner:5557"));
    size_t moved = 0;
    for (size_t i = 0; i < keys; ++i) {
      auto old_owner = before.owner(key(i));
      auto new_owner = after.owner(key(i));
      if (new_owner != old_owner) {
        ASSERT_EQ(new_owner, "joiner:5557") << "key " << i << " moved between old members";
        ++moved;
      }
    }
    EXPECT_NEAR(static_cast<double>(moved) / keys, 1.0 / n, 0.1 / n);
  }
}

TEST(ring, replicas_are_distinct_and_start_with_the_owner) {
  auto r = make_ring(5);
  for (size_t i = 0; i < 2000; ++i) {
    auto owners = r.owners(key(i), 3);
    ASSERT_EQ(owners.size(), 3u);
    EXPECT_EQ(owners[0], r.owner(key(i)));
    EXPECT_EQ(std::set<std::string>(owners.begin(), owners.end()).size(), 3u);
  }
  EXPECT_EQ(r.owners(key(0), 10).size(), 5u);
}

TEST(ring, the_replica_becomes_the_owner_when_the_owner_leaves) {
  auto r = make_ring(4);
  for (size_t i = 0; i < 2000; ++i) {
    auto owners = r.owners(key(i), 2);
    auto without = r;
    without.erase(owners[0]);
    ASSERT_EQ(without.owner(key(i)), owners[1]);
  }
}

TEST(ring, membership_edits_report_whether_they_changed_anything) {
  dmon::ring r;
  EXPECT_TRUE(r.empty());
  EXPECT_TRUE(r.insert("a"));
  EXPECT_FALSE(r.insert("a"));
  EXPECT_TRUE(r.contains("a"));
  EXPECT_EQ(r.owner(key(3)), "a");
  EXPECT_FALSE(r.erase("b"));
  EXPECT_TRUE(r.erase("a"));
  EXPECT_TRUE(r.empty());
}
