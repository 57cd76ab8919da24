// plan_handoff and cluster_view: what a node sends, keeps, promotes and drops on a ring change.
#include "handoff.hpp"

#include <gtest/gtest.h>

#include <set>

#include "ownership.hpp"
#include "state_slices.hpp"

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

namespace {

dmon::key_state state_of(size_t i) {
  return dmon::key_state{"host-" + std::to_string(i), std::string{"cpu"}, "{}"};
}

uint64_t hash_of(const dmon::key_state& s) {
  return dmon::state_slices::key_hash(s);
}

std::vector<dmon::key_state> states(size_t count) {
  std::vector<dmon::key_state> out;
  for (size_t i = 0; i < count; ++i)
    out.push_back(state_of(i));
  return out;
}

}  // namespace

TEST(plan_state_handoff, a_join_sends_exactly_the_keys_that_moved_to_the_new_member) {
  auto prev = view({"a", "b"}, "a");
  auto next = view({"a", "b", "c"}, "a");
  auto moves = dmon::plan_state_handoff(prev, next, states(n));
  ASSERT_EQ(moves.size(), 1u) << "a join takes keys only for the new member";
  size_t expected = 0;
  for (auto& s : states(n))
    expected += prev.owns(hash_of(s)) && !next.owns(hash_of(s));
  EXPECT_GT(expected, 0u);
  EXPECT_EQ(moves["c"].size(), expected);
  for (auto& s : moves["c"])
    EXPECT_EQ(next.owner(hash_of(s)), "c");
}

TEST(plan_state_handoff, keys_not_owned_before_are_never_sent) {
  // What the streams hold for keys this node did not own is stale: sending it would
  // replace the owner's newer state.
  auto prev = view({"a", "b", "c"}, "b");
  auto next = view({"a", "b", "c", "d"}, "b");
  for (auto& [node, slices] : dmon::plan_state_handoff(prev, next, states(n)))
    for (auto& s : slices)
      EXPECT_TRUE(prev.owns(hash_of(s))) << node;
  EXPECT_TRUE(dmon::plan_state_handoff(next, next, states(n)).empty())
      << "a repair pass moves no state";
}

TEST(plan_state_handoff, a_leaver_sends_its_keys_to_staying_owners_only) {
  auto before = view({"a", "b", "c"}, "a");
  auto leaving = before.with_leaving("a").with_leaving("b");
  auto moves = dmon::plan_state_leave(before, leaving, states(n));
  ASSERT_EQ(moves.size(), 1u);
  size_t owned = 0;
  for (auto& s : states(n))
    owned += before.owns(hash_of(s));
  EXPECT_EQ(moves["c"].size(), owned);
}

TEST(plan_state_replicas, owned_keys_go_to_each_replica_and_promotion_follows_the_ring) {
  auto v = view({"a", "b", "c"}, "a", 3);
  auto copies = dmon::plan_state_replicas(v, states(n));
  size_t owned = 0;
  for (auto& s : states(n))
    owned += v.owns(hash_of(s));
  EXPECT_EQ(copies["b"].size(), owned);
  EXPECT_EQ(copies["c"].size(), owned);
  EXPECT_EQ(copies.count("a"), 0u);

  // b holds a's copies; a crashes: b imports the keys it owns now, keeps the rest it
  // still replicates, drops what it neither owns nor replicates.
  auto b_before = view({"a", "b", "c"}, "b", 2);
  auto b_after = view({"b", "c"}, "b", 2);
  auto a_keys = dmon::plan_state_replicas(view({"a", "b", "c"}, "a", 2), states(n))["b"];
  ASSERT_FALSE(a_keys.empty());
  auto plan = dmon::plan_state_promotion(b_after, a_keys);
  EXPECT_EQ(plan.promote.size(), a_keys.size()) << "b was a's first replica for each";
  for (auto& s : plan.promote)
    EXPECT_TRUE(b_after.owns(hash_of(s)));
  auto stay = dmon::plan_state_promotion(b_before, a_keys);
  EXPECT_TRUE(stay.promote.empty());
  EXPECT_TRUE(stay.drop.empty());
}
