// Databases of older layouts open and keep their data: one from before the expiry order moved
// into memory (an `expiry` column family, dropped), one from before the `replicas` family
// (replicas in `state` under `cluster/replica/`, moved).
#include "store.hpp"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "event_encoding.hpp"
#include "temp_dir.hpp"

using namespace dmon;
namespace fs = std::filesystem;

namespace {

constexpr int64_t sec = 1'000'000;

struct temp_dir : dmon::test::temp_dir {
  temp_dir() : dmon::test::temp_dir("dmon-upgrade-test") {}
};

event make(std::string host, std::string service, int64_t time_us, double ttl) {
  event e;
  e.host = std::move(host);
  e.service = std::move(service);
  e.time_us = time_us;
  e.ttl = ttl;
  return e;
}

std::vector<std::string> families(const std::string& db_path) {
  std::vector<std::string> out;
  EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::Options{}, db_path, &out).ok());
  std::sort(out.begin(), out.end());
  return out;
}

// Writes the old layout: index entries plus their (deadline + key) rows in `expiry`.
void write_old_layout(const std::string& db_path, const std::vector<event>& events) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (auto* name :
       {rocksdb::kDefaultColumnFamilyName.c_str(), "index", "expiry", "events", "state"})
    descriptors.push_back({name, rocksdb::ColumnFamilyOptions{}});
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, db_path, descriptors, &handles, &raw).ok());
  for (auto& e : events) {
    auto key = index_key::of(e).encode();
    std::string deadline_key;
    storage_encoding::put_ordered_i64(deadline_key, expiry_deadline(e, 60));
    deadline_key += key;
    ASSERT_TRUE(raw->Put({}, handles[1], key, storage_encoding::encode(e)).ok());
    ASSERT_TRUE(raw->Put({}, handles[2], deadline_key, "").ok());
  }
  for (auto* h : handles)
    ASSERT_TRUE(raw->DestroyColumnFamilyHandle(h).ok());
  ASSERT_TRUE(raw->Close().ok());
  delete raw;
}

}  // namespace

TEST(store_upgrade, an_old_database_keeps_its_index_and_deadlines_and_drops_the_expiry_family) {
  temp_dir dir;
  auto data = (dir.path / "data").string();
  auto db_path = (dir.path / "data" / "db").string();
  fs::create_directories(db_path);
  write_old_layout(db_path, {make("a", "x", 10 * sec, 5), make("b", "x", 10 * sec, 50)});
  ASSERT_EQ(families(db_path).size(), 5u);

  store_options o;
  o.path = data;
  o.block_cache_bytes = 1 << 20;
  o.write_buffer_bytes = 1 << 20;
  {
    auto s = store::open(o);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ((*s)->size(), 2u);
    auto gone = (*s)->expire(16 * sec);
    ASSERT_TRUE(gone) << gone.error().message;
    ASSERT_EQ(gone->size(), 1u) << "deadlines come from the index, not the old family";
    EXPECT_EQ((*gone)[0].host, "a");
  }
  EXPECT_EQ(families(db_path),
            (std::vector<std::string>{"default", "events", "index", "replicas", "state"}));
  auto s = store::open(o);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ((*s)->size(), 1u);
  EXPECT_TRUE((*s)->lookup({"b", "x"}));
}

namespace {

// Writes the layout before the replicas family: replicas in `state` under the old prefix,
// next to a stream checkpoint.
void write_layout_without_replicas(const std::string& db_path, const std::vector<event>& replicas) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (auto* name : {rocksdb::kDefaultColumnFamilyName.c_str(), "index", "events", "state"})
    descriptors.push_back({name, rocksdb::ColumnFamilyOptions{}});
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, db_path, descriptors, &handles, &raw).ok());
  for (auto& e : replicas)
    ASSERT_TRUE(raw->Put({}, handles[3],
                         std::string{"cluster/replica/"} + index_key::of(e).encode(),
                         storage_encoding::encode(e))
                    .ok());
  ASSERT_TRUE(raw->Put({}, handles[3], "shard 0/s", "checkpoint").ok());
  for (auto* h : handles)
    ASSERT_TRUE(raw->DestroyColumnFamilyHandle(h).ok());
  ASSERT_TRUE(raw->Close().ok());
  delete raw;
}

std::vector<std::string> hosts(std::vector<event> events) {
  std::vector<std::string> out;
  for (auto& e : events)
    out.push_back(*e.host);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST(store_upgrade, replicas_kept_in_the_state_family_move_to_their_own_and_load_from_both) {
  temp_dir dir;
  auto data = (dir.path / "data").string();
  auto db_path = (dir.path / "data" / "db").string();
  fs::create_directories(db_path);
  write_layout_without_replicas(db_path,
                                {make("a", "x", 10 * sec, 5), make("b", "x", 11 * sec, 5)});

  store_options o;
  o.path = data;
  o.block_cache_bytes = 1 << 20;
  o.write_buffer_bytes = 1 << 20;
  {
    // Read-only: nothing moves, and the old place is read.
    auto ro = o;
    ro.read_only = true;
    auto s = store::open(ro);
    ASSERT_TRUE(s) << s.error().message;
    auto held = (*s)->load_replicas();
    ASSERT_TRUE(held) << held.error().message;
    EXPECT_EQ(hosts(*held), (std::vector<std::string>{"a", "b"}));
    auto extra = make("c", "x", 1, 1);
    EXPECT_FALSE((*s)->write_replicas(std::vector<replica_write>{{&extra}}));
  }
  EXPECT_EQ(families(db_path), (std::vector<std::string>{"default", "events", "index", "state"}));
  {
    auto s = store::open(o);
    ASSERT_TRUE(s) << s.error().message;
    auto left = (*s)->list_state("cluster/replica/");
    ASSERT_TRUE(left);
    EXPECT_TRUE(left->empty()) << "moved, not copied";
    EXPECT_EQ((*s)->get_state("shard 0/s")->value_or(""), "checkpoint") << "other state stays";
    auto held = (*s)->load_replicas();
    ASSERT_TRUE(held) << held.error().message;
    EXPECT_EQ(hosts(*held), (std::vector<std::string>{"a", "b"}));
    // The moved entries are ordinary replicas now: a newer write replaces one.
    auto newer = make("a", "x", 20 * sec, 5);
    ASSERT_TRUE((*s)->write_replicas(std::vector<replica_write>{{&newer}}));
    EXPECT_EQ((*s)->size(), 0u);
  }
  auto s = store::open(o);
  ASSERT_TRUE(s) << s.error().message;
  auto held = (*s)->load_replicas();
  ASSERT_TRUE(held) << held.error().message;
  ASSERT_EQ(held->size(), 2u);
  for (auto& e : *held)
    EXPECT_EQ(e.time_us, *e.host == "a" ? 20 * sec : 11 * sec);
}
