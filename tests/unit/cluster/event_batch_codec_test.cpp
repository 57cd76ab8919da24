// event_batch_codec: batches survive the trip between nodes exactly, and bad bytes are rejected
// safely.
#include "event_batch_codec.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace codec = dmon::event_batch_codec;

namespace {

dmon::event full_event() {
  dmon::event e;
  e.host = "web-1";
  e.service = "cpu";
  e.state = "warning";
  e.description = "hot";
  e.time_us = 1'700'000'000'123'456;
  e.ttl = 30.123456789;
  e.metric = 0.93;
  e.tags = {"a", "", "b"};
  e.attributes = {{"rack", "r1"}, {"", ""}};
  return e;
}

std::vector<dmon::event> round_trip(const std::vector<dmon::event>& in) {
  auto out = codec::decode(codec::encode(in));
  EXPECT_TRUE(out) << out.error().message;
  return out ? *out : std::vector<dmon::event>{};
}

std::string random_string(std::mt19937_64& rng) {
  std::string s(rng() % 12, '\0');
  for (auto& c : s)
    c = static_cast<char>(rng() % 256);
  return s;
}

dmon::event random_event(std::mt19937_64& rng) {
  auto maybe = [&](auto make) -> std::optional<decltype(make())> {
    if (rng() % 3 == 0)
      return std::nullopt;
    return make();
  };
  dmon::event e;
  e.host = maybe([&] { return random_string(rng); });
  e.service = maybe([&] { return random_string(rng); });
  e.state = maybe([&] { return random_string(rng); });
  e.description = maybe([&] { return random_string(rng); });
  e.time_us = maybe([&] { return static_cast<int64_t>(rng()); });
  e.ttl = maybe([&] { return std::bit_cast<double>(rng() & 0x7fefffffffffffffull); });
  switch (rng() % 3) {
    case 0:
      break;
    case 1:
      e.metric = static_cast<int64_t>(rng());
      break;
    default:
      e.metric = static_cast<double>(static_cast<int64_t>(rng())) / 1000.0;
  }
  for (size_t i = rng() % 4; i > 0; --i)
    e.tags.push_back(random_string(rng));
  for (size_t i = rng() % 4; i > 0; --i)
    e.attributes.push_back({random_string(rng), random_string(rng)});
  return e;
}

}  // namespace

TEST(event_batch_codec, every_field_survives_exactly) {
  auto e = full_event();
  auto out = round_trip({e});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], e);
  // Riemann protobuf would have rounded ttl to a float.
  EXPECT_EQ(*out[0].ttl, 30.123456789);
}

TEST(event_batch_codec, absent_and_empty_strings_stay_distinct) {
  dmon::event absent;
  dmon::event empty;
  empty.host = "";
  empty.service = "";
  empty.state = "";
  empty.description = "";
  auto out = round_trip({absent, empty});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].host);
  EXPECT_FALSE(out[0].service);
  EXPECT_EQ(out[1].host, std::optional<std::string>{""});
  EXPECT_EQ(out[1].description, std::optional<std::string>{""});
}

TEST(event_batch_codec, int_and_double_metrics_keep_their_kind) {
  dmon::event i, d, none, extremes;
  i.metric = int64_t{-42};
  d.metric = -42.0;
  extremes.metric = std::numeric_limits<int64_t>::min();
  extremes.time_us = std::numeric_limits<int64_t>::max();
  auto out = round_trip({i, d, none, extremes});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(std::get<int64_t>(out[0].metric), -42);
  EXPECT_EQ(std::get<double>(out[1].metric), -42.0);
  EXPECT_FALSE(out[2].has_metric());
  EXPECT_EQ(out[3], extremes);
}

TEST(event_batch_codec, special_doubles_survive_bit_for_bit) {
  dmon::event nan, inf, neg_zero;
  nan.metric = std::numeric_limits<double>::quiet_NaN();
  inf.ttl = std::numeric_limits<double>::infinity();
  neg_zero.metric = -0.0;
  auto out = round_trip({nan, inf, neg_zero});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(std::isnan(std::get<double>(out[0].metric)));
  EXPECT_TRUE(std::isinf(*out[1].ttl));
  EXPECT_TRUE(std::signbit(std::get<double>(out[2].metric)));
}

TEST(event_batch_codec, an_empty_batch_is_two_bytes) {
  auto bytes = codec::encode({});
  EXPECT_EQ(bytes.size(), 2u);
  auto out = codec::decode(bytes);
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->empty());
}

TEST(event_batch_codec, random_batches_round_trip) {
  std::mt19937_64 rng{7};
  for (int round = 0; round < 500; ++round) {
    std::vector<dmon::event> batch;
    for (size_t i = rng() % 20; i > 0; --i)
      batch.push_back(random_event(rng));
    auto out = codec::decode(codec::encode(batch));
    ASSERT_TRUE(out) << out.error().message;
    ASSERT_EQ(*out, batch) << "round " << round;
  }
}

TEST(event_batch_codec, every_truncation_is_rejected) {
  auto bytes = codec::encode(std::vector<dmon::event>{full_event(), full_event()});
  for (size_t len = 0; len < bytes.size(); ++len) {
    auto out = codec::decode(std::string_view{bytes}.substr(0, len));
    ASSERT_FALSE(out) << "prefix of " << len << " bytes decoded";
    EXPECT_EQ(out.error().code, dmon::ec::malformed_input);
  }
}

TEST(event_batch_codec, trailing_bytes_are_rejected) {
  auto bytes = codec::encode(std::vector<dmon::event>{full_event()}) + "x";
  auto out = codec::decode(bytes);
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("trailing"), std::string::npos) << out.error().message;
}

TEST(event_batch_codec, unknown_version_is_rejected_with_a_reason) {
  auto bytes = codec::encode(std::vector<dmon::event>{full_event()});
  bytes[0] = 9;
  auto out = codec::decode(bytes);
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("version 9"), std::string::npos) << out.error().message;
}

TEST(event_batch_codec, forged_counts_and_lengths_are_rejected) {
  // Event count far beyond what the input could hold.
  EXPECT_FALSE(codec::decode(std::string{"\x01\xff\xff\xff\xff\x0f", 6}));
  // One event, host present, host length 1000 with 1 byte following.
  EXPECT_FALSE(codec::decode(std::string{"\x01\x01\x01\xe8\x07x", 6}));
  // Metric kind 3 does not exist.
  EXPECT_FALSE(codec::decode(std::string{"\x01\x01\xc0\x00\x00", 5}));
  // A varint of eleven bytes.
  EXPECT_FALSE(codec::decode(std::string{"\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12}));
  // A tenth varint byte above 1 overflows 64 bits.
  EXPECT_FALSE(codec::decode(std::string{"\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 11}));
}

TEST(event_batch_codec, random_garbage_never_crashes) {
  std::mt19937_64 rng{11};
  auto valid = codec::encode(std::vector<dmon::event>{full_event(), random_event(rng)});
  for (int round = 0; round < 20000; ++round) {
    std::string bytes;
    if (round % 2 == 0) {
      // Flip a few bytes of a valid batch: exercises the deep paths.
      bytes = valid;
      for (int flips = 1 + static_cast<int>(rng() % 3); flips > 0; --flips)
        bytes[rng() % bytes.size()] = static_cast<char>(rng() % 256);
    } else {
      bytes.resize(rng() % 64);
      for (auto& c : bytes)
        c = static_cast<char>(rng() % 256);
      if (!bytes.empty())
        bytes[0] = codec::version;
    }
    auto out = codec::decode(bytes);
    // Either a clean error or a batch that survives its own round trip (compared as bytes: NaN !=
    // NaN).
    if (out)
      EXPECT_EQ(codec::encode(round_trip(*out)), codec::encode(*out));
    else
      EXPECT_EQ(out.error().code, dmon::ec::malformed_input);
  }
}
