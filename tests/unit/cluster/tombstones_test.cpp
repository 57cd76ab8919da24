// tombstones: a delete buries older copies of its key (not newer ones), survives a reopen,
// is forgotten past its horizon, and travels to members new in a view that hold its key.
#include "tombstones.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include <stdlib.h>

#include "ownership.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

dmon::event entry(const std::string& host, int64_t time) {
  dmon::event e;
  e.host = host;
  e.service = "s";
  e.time_us = time;
  e.ttl = 60;
  e.metric = 1.0;
  return e;
}

dmon::event deleted(const std::string& host, int64_t time) {
  auto e = entry(host, time);
  e.state = "expired";
  return e;
}

struct tombstones_test : ::testing::Test {
  dmon::test::temp_dir dir{"dmon-tombstones-test"};
  std::string path = dir.path.string();
  std::unique_ptr<dmon::store> open() {
    dmon::store_options o;
    o.path = path;
    auto s = dmon::store::open(o);
    EXPECT_TRUE(s) << s.error().message;
    return std::move(*s);
  }
};

constexpr int64_t now = 10'000'000'000;
constexpr auto horizon = std::chrono::microseconds{1'000'000};

}  // namespace

TEST(tombstone_rule, a_delete_buries_copies_written_up_to_it_and_no_later_write) {
  EXPECT_TRUE(dmon::buries(100, 99));
  EXPECT_TRUE(dmon::buries(100, 100)) << "the very copy the delete removed";
  EXPECT_FALSE(dmon::buries(100, 101)) << "a write after the delete lives";
}

TEST_F(tombstones_test, the_latest_delete_per_key_buries_older_copies_only) {
  auto db = open();
  dmon::tombstones t{db.get(), horizon};
  std::vector<dmon::event> in{deleted("a", now - 10), entry("b", now - 10), deleted("a", now - 5),
                              deleted("a", now - 7)};
  auto n = t.record(in, now);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 1u) << "one key; a live entry is no delete";
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.buries(entry("a", now - 5)));
  EXPECT_TRUE(t.buries(entry("a", now - 9)));
  EXPECT_FALSE(t.buries(entry("a", now - 4)));
  EXPECT_FALSE(t.buries(entry("b", now - 100))) << "another key";
  EXPECT_FALSE(t.buries(deleted("a", now - 9))) << "deletes are never buried";
  auto untimed = entry("a", 0);
  untimed.time_us.reset();
  EXPECT_TRUE(t.buries(untimed)) << "no time: written at the beginning of time";

  // An older delete arriving later changes nothing; a newer one moves the tombstone.
  ASSERT_EQ(*t.record(std::vector{deleted("a", now - 8)}, now), 0u);
  EXPECT_FALSE(t.buries(entry("a", now - 3)));
  ASSERT_EQ(*t.record(std::vector{deleted("a", now - 2)}, now), 1u);
  EXPECT_TRUE(t.buries(entry("a", now - 3)));

  std::vector<dmon::event> batch{entry("a", now - 3), entry("a", now - 1), entry("b", now),
                                 deleted("a", now - 100)};
  EXPECT_EQ(t.bury(batch), 1u);
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_EQ(*batch[0].time_us, now - 1);

  auto all = t.all();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(*all[0].host, "a");
  EXPECT_EQ(*all[0].state, "expired");
  EXPECT_EQ(*all[0].time_us, now - 2);
  EXPECT_FALSE(all[0].metric_as_double()) << "a tombstone carries only key and time";
}

TEST_F(tombstones_test, deletes_without_a_time_or_past_the_horizon_leave_none) {
  auto db = open();
  dmon::tombstones t{db.get(), horizon};
  auto untimed = deleted("a", 0);
  untimed.time_us.reset();
  std::vector<dmon::event> in{untimed, deleted("old", now - 2'000'000)};
  ASSERT_EQ(*t.record(in, now), 0u);
  EXPECT_EQ(t.size(), 0u);
}

TEST_F(tombstones_test, survive_a_reopen_and_are_forgotten_past_the_horizon) {
  {
    auto db = open();
    dmon::tombstones t{db.get(), horizon};
    ASSERT_TRUE(
        t.record(std::vector{deleted("a", now - 900'000), deleted("b", now - 100'000)}, now));
  }
  {
    auto db = open();
    dmon::tombstones t{db.get(), horizon};
    ASSERT_TRUE(t.load(now));
    EXPECT_EQ(t.size(), 2u);
    EXPECT_TRUE(t.buries(entry("a", now - 900'000)));
    auto reaped = t.reap(now + 200'000);
    ASSERT_TRUE(reaped);
    EXPECT_EQ(*reaped, 1u) << "a is past the horizon, b is not";
    EXPECT_FALSE(t.buries(entry("a", now - 900'000)));
    EXPECT_TRUE(t.buries(entry("b", now - 100'000)));
  }
  auto db = open();
  dmon::tombstones t{db.get(), horizon};
  ASSERT_TRUE(t.load(now + 2'000'000)) << "b is past the horizon by now: dropped at load";
  EXPECT_EQ(t.size(), 0u);
  ASSERT_TRUE(t.load(now + 2'000'000));
  EXPECT_EQ(t.size(), 0u) << "and deleted from the store";
  EXPECT_EQ(db->size(), 0u) << "tombstones are never in the node's own index";
}

TEST(plan_tombstones, go_to_new_members_that_own_or_replicate_the_key) {
  using dmon::cluster_view;
  using dmon::ring;
  std::vector<dmon::event> held;
  for (int i = 0; i < 200; ++i)
    held.push_back(deleted("k" + std::to_string(i), now));
  cluster_view before{ring{{"a", "b"}}, "a", 2};
  cluster_view after{ring{{"a", "b", "c"}}, "a", 2};
  auto plan = dmon::plan_tombstones(before, after, held);
  ASSERT_EQ(plan.size(), 1u) << "only c is new";
  std::set<std::string> sent;
  for (auto& d : plan["c"])
    sent.insert(*d.host);
  for (auto& d : held) {
    auto h = dmon::ownership::key_hash(d);
    bool holds = after.owner(h) == "c" || after.replicas(h)[0] == "c";
    EXPECT_EQ(sent.count(*d.host), holds ? 1u : 0u) << *d.host;
  }
  EXPECT_FALSE(sent.empty());
  EXPECT_TRUE(dmon::plan_tombstones(after, after, held).empty()) << "a repair pass sends none";
  cluster_view alone{ring{{"a"}}, "a", 2};
  EXPECT_TRUE(dmon::plan_tombstones(after, alone, held).empty());
  // The other side of a healed partition: every member is new to a node that was alone.
  auto healed = dmon::plan_tombstones(alone, after, held);
  EXPECT_EQ(healed.count("a"), 0u) << "never to itself";
  EXPECT_GT(healed["b"].size() + healed["c"].size(), held.size() / 2);
}
