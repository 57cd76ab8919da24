// ingest_split: a listener's batch split by owner node and shard, in order per key.
#include "ingest_split.hpp"

#include <gtest/gtest.h>

#include <map>

#include "ownership.hpp"

namespace {

// 40 keys, three events each, interleaved: key k's events have metrics k, 100 + k, 200 + k.
std::vector<dmon::event> batch() {
  std::vector<dmon::event> out;
  for (int round = 0; round < 3; ++round)
    for (int k = 0; k < 40; ++k) {
      dmon::event e;
      e.host = "h" + std::to_string(k % 8);
      e.service = "s" + std::to_string(k);
      e.metric = int64_t{round * 100 + k};
      out.push_back(std::move(e));
    }
  return out;
}

int64_t metric(const dmon::event& e) {
  return static_cast<int64_t>(*e.metric_as_double());
}

// Every event's metrics in the order a part holds them, per key.
void expect_in_key_order(const std::vector<dmon::event>& part) {
  std::map<std::string, int64_t> last;
  for (auto& e : part) {
    auto [it, fresh] = last.try_emplace(*e.service, metric(e));
    if (!fresh) {
      EXPECT_GT(metric(e), it->second) << "key " << *e.service << " out of order";
      it->second = metric(e);
    }
  }
}

}  // namespace

TEST(ingest_split, alone_everything_goes_to_the_key_shard) {
  auto split = dmon::ingest_split::of(batch(), dmon::cluster_view{}, 3);
  EXPECT_TRUE(split.remote.empty());
  ASSERT_EQ(split.local.size(), 3u);
  dmon::ownership owners{3};
  size_t total = 0;
  for (size_t shard = 0; shard < 3; ++shard) {
    for (auto& e : split.local[shard])
      EXPECT_EQ(owners.shard_of(e), shard);
    expect_in_key_order(split.local[shard]);
    total += split.local[shard].size();
  }
  EXPECT_EQ(total, 120u);
  EXPECT_EQ(split.local_parts(), 3u);
}

TEST(ingest_split, one_shard_alone_keeps_the_batch_as_it_is) {
  auto split = dmon::ingest_split::of(batch(), dmon::cluster_view{}, 1);
  ASSERT_EQ(split.local.size(), 1u);
  ASSERT_EQ(split.local[0].size(), 120u);
  for (size_t i = 0; i < 120; ++i)
    EXPECT_EQ(metric(split.local[0][i]), static_cast<int64_t>((i / 40) * 100 + i % 40));
}

TEST(ingest_split, in_a_cluster_each_event_goes_to_its_owner_in_order) {
  dmon::ring members{{"a", "b", "c"}};
  dmon::cluster_view view{members, "b", 2};
  auto split = dmon::ingest_split::of(batch(), view, 2);
  dmon::ownership owners{2};
  size_t total = 0;
  for (size_t shard = 0; shard < 2; ++shard) {
    for (auto& e : split.local[shard]) {
      EXPECT_EQ(members.owner(dmon::ownership::key_hash(e)), "b");
      EXPECT_EQ(owners.shard_of(e), shard);
    }
    expect_in_key_order(split.local[shard]);
    total += split.local[shard].size();
  }
  ASSERT_EQ(split.remote.size(), 2u) << "40 keys over 3 members: both others own some";
  for (auto& [node, part] : split.remote) {
    EXPECT_NE(node, "b");
    for (auto& e : part)
      EXPECT_EQ(members.owner(dmon::ownership::key_hash(e)), node);
    expect_in_key_order(part);
    total += part.size();
  }
  EXPECT_EQ(total, 120u);
  EXPECT_EQ(split.remote[0].first == "a" || split.remote[0].first == "c", true);
}

TEST(ingest_split, a_leaving_node_owns_nothing_and_sends_everything_to_the_staying_owners) {
  dmon::ring members{{"a", "b"}};
  dmon::cluster_view view{members, "b", 1, {"b"}};
  auto split = dmon::ingest_split::of(batch(), view, 2);
  EXPECT_EQ(split.local_parts(), 0u);
  ASSERT_EQ(split.remote.size(), 1u);
  EXPECT_EQ(split.remote[0].first, "a");
  EXPECT_EQ(split.remote[0].second.size(), 120u);
}

TEST(ingest_split, when_every_member_is_leaving_everything_stays_here) {
  dmon::ring members{{"a", "b"}};
  dmon::cluster_view view{members, "b", 1, {"a", "b"}};
  auto split = dmon::ingest_split::of(batch(), view, 2);
  EXPECT_TRUE(split.remote.empty());
  EXPECT_EQ(split.local[0].size() + split.local[1].size(), 120u);
}
