// Leaving members: never owners, replicas or handoff targets (cluster_view, plan_leave,
// membership's leave marks).
#include <gtest/gtest.h>

#include <set>

#include "handoff.hpp"
#include "membership.hpp"
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

std::vector<event> entries(size_t n) {
  std::vector<event> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(entry(i));
  return out;
}

const std::vector<std::string> four{"a", "b", "c", "d"};
constexpr size_t n = 3000;

}  // namespace

TEST(leaving_view, leavers_never_own_or_hold_replicas_but_keep_the_view_clustered) {
  cluster_view v{ring{four}, "a", 2, {"b", "c"}};
  EXPECT_TRUE(v.clustered());
  EXPECT_EQ(v.members().members(), (std::vector<std::string>{"a", "d"}));
  EXPECT_EQ(v.leaving(), (std::vector<std::string>{"b", "c"}));
  EXPECT_TRUE(v.is_leaving("b"));
  EXPECT_FALSE(v.is_leaving("a"));
  for (size_t i = 0; i < n; ++i) {
    auto h = hash_of(entry(i));
    EXPECT_TRUE(v.owner(h) == "a" || v.owner(h) == "d");
    for (auto& r : v.replicas(h))
      EXPECT_TRUE(r == "a" || r == "d") << r;
  }
}

TEST(leaving_view, keys_of_a_leaver_go_where_its_leave_would_send_them) {
  // Staying members route a leaver's keys to the owner it was going to have without it.
  auto all = cluster_view{ring{four}, "a", 2};
  auto marked = all.with_leaving("b");
  auto without = all.without("b");
  for (size_t i = 0; i < n; ++i) {
    auto h = hash_of(entry(i));
    EXPECT_EQ(marked.owner(h), without.owner(h));
    EXPECT_EQ(marked.replicas(h), without.replicas(h));
  }
}

TEST(leaving_view, a_leaving_self_owns_nothing_even_with_one_member_staying) {
  cluster_view v{ring{{"a", "b"}}, "a", 2, {"a"}};
  EXPECT_TRUE(v.clustered());
  for (size_t i = 0; i < 100; ++i) {
    EXPECT_FALSE(v.owns(hash_of(entry(i))));
    EXPECT_FALSE(v.holds_replica(hash_of(entry(i))));
  }
}

TEST(plan_leave, two_concurrent_leavers_hand_nothing_to_each_other) {
  // The bug this rule fixes: b and c leave together, each planning over members that
  // still included the other, handed entries to each other and both exited.
  for (auto self : {"b", "c"}) {
    auto plan = dmon::plan_leave(cluster_view{ring{four}, self, 2, {"b", "c"}}, entries(n));
    EXPECT_TRUE(plan.nowhere.empty());
    std::set<std::string> targets;
    size_t sent = 0;
    for (auto& [node, evs] : plan.to_owner) {
      targets.insert(node);
      sent += evs.size();
      for (auto& e : evs)
        EXPECT_EQ(node, (cluster_view{ring{{"a", "d"}}, "a", 2}.owner(hash_of(e))));
    }
    EXPECT_EQ(targets, (std::set<std::string>{"a", "d"}));
    EXPECT_EQ(sent, n);
  }
}

TEST(plan_leave, this_node_counts_as_leaving_before_its_view_says_so) {
  auto plan = dmon::plan_leave(cluster_view{ring{four}, "b", 2, {"c"}}, entries(n));
  size_t sent = 0;
  for (auto& [node, evs] : plan.to_owner) {
    EXPECT_TRUE(node == "a" || node == "d") << node;
    sent += evs.size();
  }
  EXPECT_EQ(sent, n);
}

TEST(plan_leave, with_every_member_leaving_nothing_has_a_target) {
  auto plan = dmon::plan_leave(cluster_view{ring{{"a", "b"}}, "a", 2, {"a", "b"}}, entries(10));
  EXPECT_TRUE(plan.to_owner.empty());
  EXPECT_EQ(plan.nowhere.size(), 10u);
}

TEST(membership_leaving, a_leave_mark_holds_for_its_incarnation_only) {
  using dmon::member_info;
  using dmon::membership;
  auto now = membership::clock::now();
  membership m{member_info{"a", 1, "127.0.0.1:5557"}, {}};
  EXPECT_TRUE(m.member_up(member_info{"b", 5, "127.0.0.2:5557"}, now));
  EXPECT_FALSE(m.leaving("b"));
  EXPECT_TRUE(m.mark_leaving("b", 5));
  EXPECT_FALSE(m.mark_leaving("b", 5)) << "no news the second time";
  EXPECT_TRUE(m.leaving("b"));
  // The same id restarted (a larger incarnation) is a new member, not leaving.
  EXPECT_TRUE(m.member_up(member_info{"b", 6, "127.0.0.2:5557"}, now));
  EXPECT_FALSE(m.leaving("b"));
  // This node itself.
  EXPECT_TRUE(m.mark_leaving("a", 1));
  EXPECT_TRUE(m.leaving("a"));
  // A member that went down is forgotten with its mark.
  EXPECT_TRUE(m.mark_leaving("b", 6));
  EXPECT_TRUE(m.member_down("b", 6, now));
  EXPECT_FALSE(m.leaving("b"));
}
