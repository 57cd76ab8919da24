// ownership: the router's key -> shard function is stable, key-determined and spreads keys.
#include "ownership.hpp"

#include <gtest/gtest.h>

#include <set>

namespace {

dmon::event key(std::optional<std::string> host, std::optional<std::string> service) {
  dmon::event e;
  e.host = std::move(host);
  e.service = std::move(service);
  return e;
}

}  // namespace

TEST(ownership, same_key_always_lands_on_the_same_shard) {
  dmon::ownership owners{8};
  auto a = key("web-1", "cpu");
  auto b = key("web-1", "cpu");
  b.metric = 0.5;
  b.state = "critical";
  EXPECT_EQ(owners.shard_of(a), owners.shard_of(b));
}

TEST(ownership, hash_is_stable_across_processes) {
  // Pinned: nodes of a cluster must agree, so this value may never change silently.
  EXPECT_EQ(dmon::ownership::key_hash(key("web-1", "cpu")), 0xa8a69b9a373082f5ull);
}

TEST(ownership, absent_and_empty_parts_are_different_keys) {
  EXPECT_NE(dmon::ownership::key_hash(key(std::nullopt, "cpu")),
            dmon::ownership::key_hash(key("", "cpu")));
  EXPECT_NE(dmon::ownership::key_hash(key("ab", "c")), dmon::ownership::key_hash(key("a", "bc")));
}

TEST(ownership, one_shard_owns_everything) {
  dmon::ownership owners{1};
  EXPECT_EQ(owners.shard_of(key("x", "y")), 0u);
  EXPECT_EQ(owners.shard_of(key(std::nullopt, std::nullopt)), 0u);
}

TEST(ownership, keys_spread_evenly_across_shards) {
  constexpr size_t shards = 4, keys = 4000;
  dmon::ownership owners{shards};
  std::vector<size_t> counts(shards);
  for (size_t i = 0; i < keys; ++i)
    ++counts[owners.shard_of(key("host-" + std::to_string(i), "cpu"))];
  for (auto c : counts) {
    EXPECT_GT(c, keys / shards * 8 / 10);
    EXPECT_LT(c, keys / shards * 12 / 10);
  }
}

TEST(ownership, services_of_one_host_spread_too) {
  dmon::ownership owners{4};
  std::set<size_t> used;
  for (int i = 0; i < 64; ++i)
    used.insert(owners.shard_of(key("web-1", "svc-" + std::to_string(i))));
  EXPECT_EQ(used.size(), 4u);
}
