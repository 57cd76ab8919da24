// replica_set: newer-wins replica entries that survive a reopen and stay out of the index.
#include "replica_set.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include <stdlib.h>

#include "event_encoding.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

dmon::event entry(const std::string& host, int64_t time, double metric) {
  dmon::event e;
  e.host = host;
  e.service = "s";
  e.time_us = time;
  e.ttl = 60;
  e.metric = metric;
  return e;
}

struct replica_set_test : ::testing::Test {
  dmon::test::temp_dir dir{"dmon-replica-test"};
  std::string path = dir.path.string();
  std::unique_ptr<dmon::store> open() {
    dmon::store_options o;
    o.path = path;
    auto s = dmon::store::open(o);
    EXPECT_TRUE(s) << s.error().message;
    return std::move(*s);
  }
};

}  // namespace

TEST_F(replica_set_test, newer_copies_win_and_expired_deletes) {
  auto db = open();
  dmon::replica_set r{db.get(), 60};
  std::vector<dmon::event> first{entry("a", 10, 1), entry("b", 10, 1)};
  ASSERT_TRUE(r.apply(first));
  std::vector<dmon::event> second{entry("a", 5, 2), entry("b", 20, 3)};
  auto changed = r.apply(second);
  ASSERT_TRUE(changed);
  EXPECT_EQ(*changed, 1u) << "the older copy of a is ignored";
  auto all = r.all();
  ASSERT_EQ(all.size(), 2u);
  for (auto& e : all)
    EXPECT_EQ(*e.metric_as_double(), *e.host == "a" ? 1 : 3);
  auto gone = entry("a", 30, 0);
  gone.state = "expired";
  ASSERT_TRUE(r.apply(std::vector<dmon::event>{gone}));
  EXPECT_EQ(r.size(), 1u);
  EXPECT_EQ(db->size(), 0u) << "replicas are never in the node's own index";
}

TEST_F(replica_set_test, survives_a_reopen_and_erase_is_durable) {
  {
    auto db = open();
    dmon::replica_set r{db.get(), 60};
    ASSERT_TRUE(r.apply(std::vector<dmon::event>{entry("a", 1, 1), entry("b", 1, 1)}));
    ASSERT_TRUE(r.erase(std::vector<dmon::event>{entry("b", 0, 0)}));
  }
  auto db = open();
  dmon::replica_set r{db.get(), 60};
  ASSERT_TRUE(r.load());
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(*r.all()[0].host, "a");
  auto pred = dmon::query::parse_cached("host = \"a\"");
  ASSERT_TRUE(pred);
  EXPECT_EQ(r.select(*pred).size(), 1u);
}

TEST_F(replica_set_test, a_batch_keeps_the_last_copy_per_key_and_one_without_time_is_stamped) {
  auto db = open();
  dmon::replica_set r{db.get(), 60};
  auto untimed = entry("c", 0, 7);
  untimed.time_us.reset();
  untimed.ttl.reset();
  std::vector<dmon::event> batch{entry("a", 10, 1), entry("b", 10, 1), entry("a", 5, 2), untimed};
  auto changed = r.apply(batch);
  ASSERT_TRUE(changed);
  EXPECT_EQ(*changed, 3u) << "a once, with its last copy of the batch";
  auto a = r.select(*dmon::query::parse_cached("host = \"a\""));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(*a[0].metric_as_double(), 2) << "the batch's last copy, though older";
  auto c = r.select(*dmon::query::parse_cached("host = \"c\""));
  ASSERT_EQ(c.size(), 1u);
  EXPECT_TRUE(c[0].time_us) << "held with a time, like an index entry";
  EXPECT_EQ(c[0].ttl, 60);
  // Deleting a key not held writes nothing; deleting one held counts.
  auto gone = entry("zz", 1, 0);
  gone.state = "expired";
  EXPECT_EQ(*r.apply(std::vector<dmon::event>{gone}), 0u);
  gone.host = "b";
  EXPECT_EQ(*r.apply(std::vector<dmon::event>{gone}), 1u);
  EXPECT_EQ(r.size(), 2u);
}

TEST_F(replica_set_test, replicas_an_older_node_kept_in_the_state_family_still_load) {
  {
    auto db = open();
    auto e = entry("old", 3, 4);
    std::vector<std::pair<std::string, std::string>> puts{
        {std::string{dmon::store::legacy_replica_prefix} + dmon::index_key::of(e).encode(),
         dmon::storage_encoding::encode(e)}};
    ASSERT_TRUE(db->write_states(puts, {}));
  }
  auto db = open();
  dmon::replica_set r{db.get(), 60};
  ASSERT_TRUE(r.load());
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(*r.all()[0].host, "old");
  EXPECT_EQ(*r.all()[0].metric_as_double(), 4);
  ASSERT_TRUE(r.erase(r.all()));
  db.reset();
  db = open();
  dmon::replica_set again{db.get(), 60};
  ASSERT_TRUE(again.load());
  EXPECT_EQ(again.size(), 0u) << "the moved entry is erased for good";
}

TEST_F(replica_set_test, stream_state_slices_replace_per_key_and_survive_a_reopen) {
  auto slice = [](const std::string& host, const std::string& json) {
    return dmon::key_state{host, std::string{"s"}, json};
  };
  {
    auto db = open();
    dmon::replica_set r{db.get(), 60};
    ASSERT_TRUE(r.put_states(std::vector{slice("a", "1"), slice("b", "1")}));
    ASSERT_TRUE(r.put_states(std::vector{slice("a", "2")}));
    ASSERT_TRUE(r.erase_states(std::vector{slice("b", "")}));
    EXPECT_EQ(r.states_size(), 1u);
    EXPECT_EQ(r.size(), 0u) << "state slices are not index entries";
  }
  auto db = open();
  dmon::replica_set r{db.get(), 60};
  ASSERT_TRUE(r.load());
  ASSERT_EQ(r.states().size(), 1u);
  EXPECT_EQ(r.states()[0], slice("a", "2"));
  EXPECT_EQ(r.size(), 0u);
}
