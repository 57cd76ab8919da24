// plan_handoff and cluster_view: what a node sends, keeps, promotes and drops on a ring change.
#include "handoff.hpp"

#include <gtest/gtest.h>

#include <set>

#include "ownership.hpp"

namespace {

using dmon::cluster_view;
using dmon::event;
using dmon::ring;

event entry(size_t i) {
  event e;
  e.host = "host-" + std::to_string(i);
  e.service = "cpu";
  e.time_us = 1000 + static_cast<int64_t>(i);
  return e;
}

uint64_t hash_of(const event& e) {
  return dmon::ownership::key_hash(e);
}

cluster_view view(std::vector<std::string> ids, const std::string& self, size_t rf = 2) {
  return cluster_view{ring{std::move(ids)}, self, rf};
}

constexpr size_t n = 3000;

}  // namespace

TEST(cluster_view, alone_owns_everything_and_has_no_replicas) {
  cluster_view solo;
  EXPECT_FALSE(solo.clustered());
  EXPECT_TRUE(solo.owns(hash_of(entry(1))));
  EXPECT_TRUE(solo.replicas(hash_of(entry(1))).empty());
  auto one = view({"a"}, "a");
  EXPECT_TRUE(one.owns(hash_of(entry(1))));
  EXPECT_TRUE(one.replicas(hash_of(entry(1))).empty());
}

TEST(cluster_view, replicas_are_the_next_owners_and_take_over_on_leave) {
  auto v = view({"a", "b", "c"}, "a", 2);
  for (size_t i = 0; i < 200; ++i) {
    auto h = hash_of(entry(i));
    auto reps = v.replicas(h);
    ASSERT_EQ(reps.size(), 1u);
    EXPECT_NE(reps[0], v.owner(h));
    // Without the owner, its first replica owns the key.
    EXPECT_EQ(v.without(v.owner(h)).owner(h), reps[0]);
  }
  EXPECT_EQ(view({"a", "b", "c"}, "a", 3).replicas(hash_of(entry(0))).size(), 2u);
  EXPECT_TRUE(view({"a", "b", "c"}, "a", 1).replicas(hash_of(entry(0))).empty());
}

TEST(plan_handoff, join_sends_only_the_keys_the_new_member_owns) {
  auto before = view({"a", "b"}, "a");
  auto after = view({"a", "b", "c"}, "a");
  std::vector<event> mine;
  for (size_t i = 0; i < n; ++i)
    if (before.owns(hash_of(entry(i))))
      mine.push_back(entry(i));
  auto plan = plan_handoff(before, after, mine, {});
  ASSERT_EQ(plan.to_owner.size(), 1u);
  ASSERT_TRUE(plan.to_owner.count("c"));
  for (auto& e : plan.to_owner["c"])
    EXPECT_EQ(after.owner(hash_of(e)), "c");
  // Roughly a third of a's keys move; a keeps those it is a replica of.
  auto moved = plan.to_owner["c"].size();
  EXPECT_GT(moved, mine.size() / 5);
  EXPECT_LT(moved, mine.size() / 2);
  for (auto& e : plan.keep_as_replica)
    EXPECT_TRUE(after.holds_replica(hash_of(e)));
  // Kept keys whose replica moved from b to c get a copy on c.
  for (auto& [node, events] : plan.to_replica)
    for (auto& e : events) {
      EXPECT_TRUE(after.owns(hash_of(e)));
      auto reps = after.replicas(hash_of(e));
      EXPECT_EQ(reps[0], node);
      EXPECT_NE(before.replicas(hash_of(e))[0], node);
    }
  EXPECT_TRUE(plan.promote.empty());
}

TEST(plan_handoff, crash_promotes_exactly_the_replicas_of_the_dead_owner) {
  auto before = view({"a", "b", "c"}, "a");
  auto after = view({"a", "c"}, "a");
  std::vector<event> copies;
  size_t of_b = 0;
  for (size_t i = 0; i < n; ++i) {
    auto h = hash_of(entry(i));
    if (before.holds_replica(h)) {
      copies.push_back(entry(i));
      of_b += before.owner(h) == "b";
    }
  }
  auto plan = plan_handoff(before, after, {}, copies);
  EXPECT_EQ(plan.promote.size(), of_b);
  for (auto& e : plan.promote)
    EXPECT_EQ(before.owner(hash_of(e)), "b");
  // Promoted keys need a new replica: the only other member.
  size_t sent = 0;
  for (auto& [node, events] : plan.to_replica) {
    EXPECT_EQ(node, "c");
    sent += events.size();
  }
  EXPECT_GE(sent, of_b);
  EXPECT_TRUE(plan.to_owner.empty());
}

TEST(plan_handoff, leave_hands_every_entry_to_its_next_owner) {
  auto now = view({"a", "b", "c"}, "b");
  std::vector<event> mine;
  for (size_t i = 0; i < n; ++i)
    if (now.owns(hash_of(entry(i))))
      mine.push_back(entry(i));
  auto plan = plan_handoff(now, now.without("b"), mine, {});
  size_t total = 0;
  for (auto& [node, events] : plan.to_owner) {
    EXPECT_NE(node, "b");
    for (auto& e : events)
      EXPECT_EQ(now.replicas(hash_of(e))[0], node) << "the replica becomes the owner";
    total += events.size();
  }
  EXPECT_EQ(total, mine.size());
  EXPECT_TRUE(plan.keep_as_replica.empty());
}

TEST(plan_handoff, leaving_a_pair_hands_everything_to_the_other) {
  auto now = view({"a", "b"}, "b");
  std::vector<event> mine;
  for (size_t i = 0; i < 100; ++i)
    mine.push_back(entry(i));
  auto plan = plan_handoff(now, now.without("b"), mine, {});
  ASSERT_EQ(plan.to_owner.size(), 1u);
  EXPECT_EQ(plan.to_owner["a"].size(), mine.size());
}

TEST(plan_handoff, an_unchanged_view_only_repairs) {
  auto v = view({"a", "b", "c"}, "a");
  std::vector<event> held, copies;
  for (size_t i = 0; i < 300; ++i) {
    auto h = hash_of(entry(i));
    held.push_back(entry(i));  // some not owned: left over from a handoff that failed
    if (!v.owns(h) && !v.holds_replica(h))
      copies.push_back(entry(i));  // replicas a no longer needs
  }
  auto plan = plan_handoff(v, v, held, copies);
  EXPECT_TRUE(plan.to_replica.empty()) << "no replica set changed";
  EXPECT_TRUE(plan.promote.empty());
  EXPECT_EQ(plan.drop_replica.size(), copies.size());
  size_t sent = 0;
  for (auto& [node, events] : plan.to_owner)
    sent += events.size();
  size_t not_owned = 0;
  for (auto& e : held)
    not_owned += !v.owns(hash_of(e));
  EXPECT_EQ(sent, not_owned);
}
