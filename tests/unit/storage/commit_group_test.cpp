// Tests of the commit group: coalescing to the latest event per key, history kept whole, due rules.
#include "commit_group.hpp"

#include <gtest/gtest.h>

using namespace dmon;
using namespace std::chrono_literals;

namespace {

using group = commit_group<int>;

event make(std::string host, std::string service, double metric) {
  event e;
  e.host = std::move(host);
  e.service = std::move(service);
  e.metric = metric;
  return e;
}

group::limits limits(size_t max_events, std::chrono::microseconds delay) {
  group::limits l;
  l.max_events = max_events;
  l.max_delay = delay;
  return l;
}

const auto t0 = std::chrono::steady_clock::time_point{} + 1h;

}  // namespace

TEST(commit_group, keeps_only_the_latest_event_per_key_across_batches) {
  group g{limits(1000, 5ms)};
  g.add({make("a", "x", 1), make("b", "x", 1), make("a", "x", 2)}, {}, 1, t0);
  g.add({make("b", "x", 3), make("c", "y", 1)}, {}, 2, t0);
  EXPECT_EQ(g.writes(), 5u);
  EXPECT_EQ(g.keys(), 3u);
  auto c = g.take();
  ASSERT_EQ(c.index.size(), 3u);
  EXPECT_EQ(c.index[0].e, make("a", "x", 2));
  EXPECT_EQ(c.index[1].e, make("b", "x", 3));
  EXPECT_EQ(c.index[2].e, make("c", "y", 1));
  EXPECT_EQ(c.index[0].hash, (index_key{"a", "x"}.hash()));
  EXPECT_EQ(c.index[2].hash, (index_key{"c", "y"}.hash()));
  EXPECT_EQ(c.index_writes, 5u);
  EXPECT_EQ(c.acks, (std::vector<int>{1, 2}));
}

TEST(commit_group, an_expired_state_is_the_latest_event_like_any_other) {
  group g{limits(1000, 5ms)};
  auto gone = make("a", "x", 0);
  gone.state = "expired";
  g.add({make("a", "x", 1)}, {}, 1, t0);
  g.add({gone}, {}, 2, t0);
  auto c = g.take();
  ASSERT_EQ(c.index.size(), 1u);
  EXPECT_EQ(c.index[0].e.state, "expired");
  g.add({gone}, {}, 3, t0);
  g.add({make("a", "x", 4)}, {}, 4, t0);
  c = g.take();
  ASSERT_EQ(c.index.size(), 1u);
  EXPECT_EQ(c.index[0].e, make("a", "x", 4));
}

TEST(commit_group, keys_differ_by_absent_and_empty_parts) {
  group g{limits(1000, 5ms)};
  event nil_host;
  nil_host.service = "x";
  g.add({nil_host, make("", "x", 1)}, {}, 1, t0);
  EXPECT_EQ(g.keys(), 2u);
}

TEST(commit_group, history_is_kept_whole_and_in_order) {
  group g{limits(1000, 5ms)};
  g.add({}, {make("a", "x", 1), make("a", "x", 2)}, 1, t0);
  g.add({}, {make("a", "x", 3)}, 2, t0);
  auto c = g.take();
  ASSERT_EQ(c.history.size(), 3u);
  EXPECT_EQ(c.history[2].metric, make("a", "x", 3).metric);
  EXPECT_TRUE(c.index.empty());
}

TEST(commit_group, an_ack_without_writes_still_waits_for_the_group) {
  group g{limits(1000, 5ms)};
  EXPECT_TRUE(g.empty());
  g.add({}, {}, 7, t0);
  EXPECT_FALSE(g.empty());
  EXPECT_EQ(g.take().acks, std::vector<int>{7});
  EXPECT_TRUE(g.empty());
}

TEST(commit_group, is_due_by_size_before_coalescing) {
  group g{limits(4, 1h)};
  EXPECT_FALSE(g.add({make("a", "x", 1), make("a", "x", 2)}, {}, 1, t0));
  EXPECT_FALSE(g.due(t0));
  EXPECT_TRUE(g.add({make("a", "x", 3)}, {make("a", "x", 3)}, 2, t0)) << "4 writes, 1 key";
  EXPECT_TRUE(g.due(t0));
}

TEST(commit_group, is_due_by_the_age_of_its_first_write) {
  group g{limits(1000, 5ms)};
  EXPECT_FALSE(g.due(t0)) << "an empty group is never due";
  g.add({make("a", "x", 1)}, {}, 1, t0);
  g.add({make("b", "x", 1)}, {}, 2, t0 + 4ms);
  EXPECT_FALSE(g.due(t0 + 4999us));
  EXPECT_TRUE(g.due(t0 + 5ms));
  g.take();
  g.add({make("c", "x", 1)}, {}, 3, t0 + 6ms);
  EXPECT_FALSE(g.due(t0 + 10ms)) << "a new group's age starts at its own first write";
  EXPECT_EQ(g.opened(), t0 + 6ms);
}

TEST(commit_group, take_resets_and_counts_generations) {
  group g{limits(1000, 5ms)};
  auto first = g.generation();
  g.add({make("a", "x", 1)}, {make("a", "x", 1)}, 1, t0);
  g.take();
  EXPECT_EQ(g.generation(), first + 1);
  EXPECT_EQ(g.writes(), 0u);
  EXPECT_EQ(g.keys(), 0u);
  g.add({make("a", "x", 2)}, {}, 2, t0);
  auto c = g.take();
  ASSERT_EQ(c.index.size(), 1u) << "a key of an earlier group does not leak into this one";
  EXPECT_EQ(c.index[0].e.metric, make("a", "x", 2).metric);
  EXPECT_TRUE(c.history.empty());
}

namespace {

std::vector<keyed_event> keyed(std::vector<event> events) {
  std::vector<keyed_event> out;
  for (auto& e : events) {
    auto hash = index_key::hash(e);
    out.emplace_back(hash, std::move(e));
  }
  return out;
}

}  // namespace

// Writes that carry their hashes: coalesced in their own buffer into an empty group, merged
// into a group that holds writes, with the same result as the event-taking add.
TEST(commit_group, keyed_writes_coalesce_as_events_do_and_are_taken_over) {
  group g{limits(1000, 5ms)};
  auto first = keyed({make("a", "x", 1), make("b", "x", 1), make("a", "x", 2), make("c", "y", 1),
                      make("b", "x", 4)});
  const auto* buffer = first.data();
  g.add(first, {make("h", "x", 1)}, 1, t0);
  EXPECT_TRUE(first.empty());
  auto second = keyed({make("c", "y", 5), make("d", "y", 1), make("a", "x", 6)});
  g.add(second, {}, 2, t0);
  EXPECT_TRUE(second.empty());
  g.add({make("d", "y", 7)}, {}, 3, t0);
  EXPECT_EQ(g.writes(), 10u);
  auto c = g.take();
  ASSERT_EQ(c.index.size(), 4u);
  EXPECT_EQ(c.index.data(), buffer) << "the first batch's buffer holds the group";
  EXPECT_EQ(c.index[0].e, make("a", "x", 6));
  EXPECT_EQ(c.index[1].e, make("b", "x", 4));
  EXPECT_EQ(c.index[2].e, make("c", "y", 5));
  EXPECT_EQ(c.index[3].e, make("d", "y", 7));
  for (auto& w : c.index)
    EXPECT_EQ(w.hash, index_key::hash(w.e));
  EXPECT_EQ(c.index_writes, 9u);
  EXPECT_EQ(c.history, (std::vector<event>{make("h", "x", 1)}));
  EXPECT_EQ(c.acks, (std::vector<int>{1, 2, 3}));

  // The same writes through the event-taking add give the same group.
  group h{limits(1000, 5ms)};
  h.add({make("a", "x", 1), make("b", "x", 1), make("a", "x", 2), make("c", "y", 1),
         make("b", "x", 4)},
        {}, 1, t0);
  h.add({make("c", "y", 5), make("d", "y", 1), make("a", "x", 6)}, {}, 2, t0);
  h.add({make("d", "y", 7)}, {}, 3, t0);
  auto d = h.take();
  ASSERT_EQ(d.index.size(), c.index.size());
  for (size_t i = 0; i < d.index.size(); ++i)
    EXPECT_EQ(d.index[i].e, c.index[i].e) << i;
}
