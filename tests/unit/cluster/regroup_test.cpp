// regroup keys, owner splitting and the node-to-node encoding of regrouped batches.
#include "regroup.hpp"

#include <gtest/gtest.h>

#include <set>

namespace dmon {
namespace {

event ev(std::optional<std::string> host, std::optional<std::string> service) {
  event e;
  e.host = std::move(host);
  e.service = std::move(service);
  return e;
}

TEST(regroup_key, host_and_service_hash_as_the_event_key_does) {
  // regroup(["host", "service"]) keeps each event on its own owner.
  for (auto& e : {ev("a", "cpu"), ev("", "cpu"), ev(std::nullopt, "cpu"), ev("a", std::nullopt)})
    EXPECT_EQ(regroup::key_hash({"host", "service"}, e), ownership::key_hash(e));
}

TEST(regroup_key, only_the_listed_fields_count) {
  EXPECT_EQ(regroup::key_hash({"service"}, ev("a", "cpu")),
            regroup::key_hash({"service"}, ev("b", "cpu")));
  EXPECT_NE(regroup::key_hash({"service"}, ev("a", "cpu")),
            regroup::key_hash({"service"}, ev("a", "mem")));
  EXPECT_EQ(regroup::key_hash({}, ev("a", "cpu")), regroup::key_hash({}, ev("z", "q")));
  // Absent differs from empty, and attributes are fields too.
  EXPECT_NE(regroup::key_hash({"state"}, ev("a", "b")), regroup::key_hash({"state"}, [] {
              auto e = ev("a", "b");
              e.state = "";
              return e;
            }()));
  auto with_env = [](std::string v) {
    auto e = ev("a", "b");
    e.attributes.push_back({"env", std::move(v)});
    return e;
  };
  EXPECT_NE(regroup::key_hash({"env"}, with_env("prod")),
            regroup::key_hash({"env"}, with_env("dev")));
  EXPECT_NE(regroup::key_hash({"env"}, with_env("")), regroup::key_hash({"env"}, ev("a", "b")));
}

TEST(regroup_key, is_pinned_so_nodes_agree) {
  // Changing the hash would split one key between nodes of different versions.
  EXPECT_EQ(regroup::key_hash({}, ev("a", "b")), 0x552d3fb62b3c344full);
}

regrouped_batch batch_of(size_t n) {
  regrouped_batch b;
  for (size_t i = 0; i < n; ++i) {
    auto e = ev("h" + std::to_string(i), "s" + std::to_string(i % 7));
    b.push_back({"stream/regroup", regroup::key_hash({"service"}, e), e});
  }
  return b;
}

TEST(regroup_split, alone_everything_is_local_by_shard_in_order) {
  auto parts = regroup::split_by_owner(batch_of(100), ring{}, "", 4);
  ASSERT_EQ(parts.local.size(), 4u);
  EXPECT_TRUE(parts.remote.empty());
  size_t total = 0;
  for (size_t s = 0; s < 4; ++s) {
    int last = -1;
    for (auto& r : parts.local[s]) {
      EXPECT_EQ(regroup::shard_of(r.key_hash, 4), s);
      int i = std::stoi(r.e.host->substr(1));
      EXPECT_GT(i, last);  // the batch's order within each part
      last = i;
    }
    total += parts.local[s].size();
  }
  EXPECT_EQ(total, 100u);
}

TEST(regroup_split, keys_go_where_the_ring_says) {
  ring members{{"a", "b", "c"}};
  auto parts = regroup::split_by_owner(batch_of(200), members, "b", 2);
  size_t total = 0;
  for (auto& [owner, events] : parts.remote) {
    EXPECT_NE(owner, "b");
    for (auto& r : events)
      EXPECT_EQ(members.owner(r.key_hash), owner);
    total += events.size();
  }
  for (auto& part : parts.local)
    for (auto& r : part)
      EXPECT_EQ(members.owner(r.key_hash), "b");
  total += parts.local[0].size() + parts.local[1].size();
  EXPECT_EQ(total, 200u);
  // One service, one owner: 7 services over 3 nodes.
  std::set<std::string> owners;
  for (auto& [owner, _] : parts.remote)
    owners.insert(owner);
  EXPECT_FALSE(owners.empty());
}

TEST(regroup_codec, round_trips) {
  auto b = batch_of(50);
  b[3].address = std::string(300, 'x');
  b[4].e.attributes.push_back({"k", "v"});
  auto decoded = regroup::decode(regroup::encode(b));
  ASSERT_TRUE(decoded) << decoded.error().message;
  ASSERT_EQ(decoded->size(), b.size());
  for (size_t i = 0; i < b.size(); ++i) {
    EXPECT_EQ((*decoded)[i].address, b[i].address);
    EXPECT_EQ((*decoded)[i].key_hash, b[i].key_hash);
    EXPECT_EQ((*decoded)[i].e.host, b[i].e.host);
    EXPECT_EQ((*decoded)[i].e.attributes.size(), b[i].e.attributes.size());
  }
  auto empty = regroup::decode(regroup::encode({}));
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(regroup_codec, rejects_truncated_forged_and_trailing_bytes) {
  auto bytes = regroup::encode(batch_of(5));
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = regroup::decode(std::string_view(bytes).substr(0, n));
    ASSERT_FALSE(r) << "prefix of " << n << " bytes decoded";
    EXPECT_EQ(r.error().code, ec::malformed_input);
  }
  EXPECT_FALSE(regroup::decode(bytes + "x"));
  auto forged = bytes;
  forged[0] = 9;
  EXPECT_FALSE(regroup::decode(forged));
  forged = bytes;
  forged[1] = 6;  // the header claims one more event than the events hold
  EXPECT_FALSE(regroup::decode(forged));
}

}  // namespace
}  // namespace dmon
