// A database written before the expiry order moved into memory (with an `expiry` column family)
// opens, keeps its index and deadlines, and loses the family.
#include "store.hpp"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "event_encoding.hpp"

using namespace dmon;
namespace fs = std::filesystem;

namespace {

constexpr int64_t sec = 1'000'000;

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "dmon-upgrade-test-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
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
  EXPECT_EQ(families(db_path), (std::vector<std::string>{"default", "events", "index", "state"}));
  auto s = store::open(o);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ((*s)->size(), 1u);
  EXPECT_TRUE((*s)->lookup({"b", "x"}));
}
