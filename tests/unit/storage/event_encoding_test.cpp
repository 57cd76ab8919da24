// Tests of the storage encoding of events: exact round trips and refusal of corrupt bytes.
#include "event_encoding.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

using namespace dmon;
namespace enc = dmon::storage_encoding;

namespace {

event full_event() {
  event e;
  e.host = "web-3";
  e.service = "cpu";
  e.state = "warning";
  e.description = std::string{"a\0b", 3};
  e.time_us = 1'700'000'000'123'456;
  e.ttl = 60.25;
  e.metric = 0.93;
  e.tags = {"a", "", "c"};
  e.attributes = {{"region", "eu"}, {"", ""}};
  return e;
}

}  // namespace

TEST(storage_encoding, an_event_with_every_field_round_trips_exactly) {
  auto e = full_event();
  auto back = enc::decode(enc::encode(e));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, e);
}

// The layout is what the index log and RocksDB already hold: version, presence bits (a
// varint), the strings present, the 8-byte little-endian numbers, then tags and attributes.
TEST(storage_encoding, the_bytes_are_the_documented_layout) {
  event e;
  e.host = "h";
  e.service = "s";
  e.time_us = 1;
  e.metric = int64_t{2};
  e.tags = {"t"};
  e.attributes = {{"k", "v"}};
  const unsigned char want[] = {
      1,                                   // version
      0xD3, 0x06,                          // host|service|time|metric_int|tags|attributes = 851
      1,    'h',  1,   's',                // host, service
      1,    0,    0,   0,   0,   0, 0, 0,  // time
      2,    0,    0,   0,   0,   0, 0, 0,  // metric
      1,    1,    't',                     // one tag
      1,    1,    'k', 1,   'v',           // one attribute
  };
  EXPECT_EQ(enc::encode(e), std::string(reinterpret_cast<const char*>(want), sizeof want));
  std::string appended = "prefix";
  enc::encode(e, appended);
  EXPECT_EQ(appended, "prefix" + enc::encode(e));
}

TEST(storage_encoding, absent_and_empty_strings_stay_distinct) {
  event absent;
  event empty;
  empty.host = "";
  empty.service = "";
  empty.state = "";
  empty.description = "";
  auto a = enc::decode(enc::encode(absent));
  auto b = enc::decode(enc::encode(empty));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, absent);
  EXPECT_EQ(*b, empty);
  EXPECT_NE(enc::encode(absent), enc::encode(empty));
}

TEST(storage_encoding, integer_and_double_metrics_keep_their_kind) {
  event i;
  i.metric = int64_t{-7};
  event d;
  d.metric = -7.0;
  auto bi = enc::decode(enc::encode(i));
  auto bd = enc::decode(enc::encode(d));
  ASSERT_TRUE(bi && bd);
  EXPECT_TRUE(std::holds_alternative<int64_t>(bi->metric));
  EXPECT_TRUE(std::holds_alternative<double>(bd->metric));
  EXPECT_EQ(*bi, i);
  EXPECT_EQ(*bd, d);
}

TEST(storage_encoding, ttl_and_metric_keep_their_bits_even_for_nan_and_negative_zero) {
  event e;
  e.ttl = std::numeric_limits<double>::quiet_NaN();
  e.metric = -0.0;
  e.time_us = std::numeric_limits<int64_t>::min();
  auto back = enc::decode(enc::encode(e));
  ASSERT_TRUE(back);
  EXPECT_EQ(std::bit_cast<uint64_t>(*back->ttl), std::bit_cast<uint64_t>(*e.ttl));
  EXPECT_EQ(std::bit_cast<uint64_t>(std::get<double>(back->metric)), std::bit_cast<uint64_t>(-0.0));
  EXPECT_EQ(back->time_us, e.time_us);
}

TEST(storage_encoding, truncated_bytes_are_refused_as_storage_failure) {
  auto bytes = enc::encode(full_event());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = enc::decode(std::string_view{bytes}.substr(0, n));
    ASSERT_FALSE(r) << "prefix of " << n << " bytes decoded";
    EXPECT_EQ(r.error().code, ec::storage_failure);
  }
}

TEST(storage_encoding, trailing_bytes_and_unknown_versions_are_refused) {
  auto bytes = enc::encode(full_event());
  auto r = enc::decode(bytes + "x");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("trailing"), std::string::npos);
  bytes[0] = 99;
  r = enc::decode(bytes);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("version 99"), std::string::npos);
}

TEST(storage_encoding, ordered_integers_sort_bytewise_like_numbers) {
  std::vector<int64_t> values{std::numeric_limits<int64_t>::min(), -2, -1, 0, 1, 255, 256,
                              std::numeric_limits<int64_t>::max()};
  std::string prev;
  for (auto v : values) {
    std::string cur;
    enc::put_ordered_i64(cur, v);
    EXPECT_EQ(enc::get_ordered_i64(cur), v);
    if (!prev.empty()) {
      EXPECT_LT(prev, cur) << v;
    }
    prev = cur;
  }
}
