// json_codec: dmon's JSON datagrams, every field optional, wrong types rejected with the field
// name.
#include "json_codec.hpp"

#include <gtest/gtest.h>

namespace jc = dmon::json_codec;

namespace {

constexpr int64_t now = 1'700'000'000'000'000;

std::string error_of(std::string_view text) {
  auto r = jc::decode(text, now);
  EXPECT_FALSE(r) << text;
  return r ? "" : r.error().message;
}

}  // namespace

TEST(json_codec, decodes_the_seed_format) {
  auto e = jc::decode(R"({"host":"web-1","service":"cpu","state":"warning","description":"hot",)"
                      R"("time":1600000000.5,"ttl":30,"metric":0.93})",
                      now);
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->host, "web-1");
  EXPECT_EQ(e->service, "cpu");
  EXPECT_EQ(e->state, "warning");
  EXPECT_EQ(e->description, "hot");
  EXPECT_EQ(e->time_us, 1'600'000'000'500'000);
  EXPECT_DOUBLE_EQ(*e->ttl, 30);
  EXPECT_EQ(e->metric, dmon::metric_value{0.93});
}

TEST(json_codec, every_field_is_optional) {
  auto e = jc::decode("{}", now);
  ASSERT_TRUE(e);
  EXPECT_FALSE(e->host);
  EXPECT_FALSE(e->has_metric());
  EXPECT_EQ(e->time_us, now);
}

TEST(json_codec, null_means_absent) {
  auto e = jc::decode(R"({"host":null,"metric":null,"time":null})", now);
  ASSERT_TRUE(e);
  EXPECT_FALSE(e->host);
  EXPECT_FALSE(e->has_metric());
  EXPECT_EQ(e->time_us, now);
}

TEST(json_codec, integer_metric_stays_integer) {
  auto e = jc::decode(R"({"metric":42})", now);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->metric, dmon::metric_value{int64_t{42}});
}

TEST(json_codec, tags_and_attributes) {
  auto e = jc::decode(R"({"tags":["a","b"],"attributes":{"rack":"r1","cores":8,"up":true}})", now);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->tags, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(e->attributes.size(), 3u);
  EXPECT_EQ(*e->find_attribute("rack"), "r1");
  EXPECT_EQ(*e->find_attribute("cores"), "8");
  EXPECT_EQ(*e->find_attribute("up"), "true");
}

TEST(json_codec, unknown_top_level_keys_become_attributes) {
  auto e = jc::decode(R"({"host":"h","env":"prod"})", now);
  ASSERT_TRUE(e);
  ASSERT_NE(e->find_attribute("env"), nullptr);
  EXPECT_EQ(*e->find_attribute("env"), "prod");
}

TEST(json_codec, iso8601_time) {
  auto e = jc::decode(R"({"time":"2026-01-01T00:00:01.250Z"})", now);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->time_us, 1'767'225'601'250'000);
  auto offset = jc::decode(R"({"time":"2026-01-01T02:00:01+02:00"})", now);
  ASSERT_TRUE(offset);
  EXPECT_EQ(offset->time_us, 1'767'225'601'000'000);
}

TEST(json_codec, wrong_types_name_the_field) {
  EXPECT_NE(error_of(R"({"host":5})").find("field 'host' must be a string, got number 5"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"service":["x"]})").find("field 'service'"), std::string::npos);
  EXPECT_NE(error_of(R"({"metric":"0.9"})").find("field 'metric' must be a number"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"ttl":"60"})").find("field 'ttl'"), std::string::npos);
  EXPECT_NE(error_of(R"({"time":true})").find("field 'time'"), std::string::npos);
  EXPECT_NE(error_of(R"({"time":"yesterday"})").find("not ISO-8601"), std::string::npos);
  EXPECT_NE(error_of(R"({"tags":"a"})").find("field 'tags' must be an array"), std::string::npos);
  EXPECT_NE(error_of(R"({"tags":[1]})").find("field 'tags'"), std::string::npos);
  EXPECT_NE(error_of(R"({"attributes":[]})").find("field 'attributes'"), std::string::npos);
  EXPECT_NE(error_of(R"({"attributes":{"k":{"n":1}}})").find("attributes.k"), std::string::npos);
}

TEST(json_codec, wrong_type_is_coded_wrong_type) {
  auto r = jc::decode(R"({"host":5})", now);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, dmon::ec::wrong_type);
}

TEST(json_codec, malformed_json_and_non_objects_are_rejected) {
  EXPECT_NE(error_of("{\"host\":").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("[1,2]").find("expected a JSON object"), std::string::npos);
  EXPECT_NE(error_of("\"x\"").find("expected a JSON object"), std::string::npos);
  auto r = jc::decode("nope", now);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, dmon::ec::malformed_input);
}

TEST(json_codec, encode_round_trips) {
  dmon::event e;
  e.host = "h";
  e.service = "s";
  e.time_us = 1'767'225'601'250'000;
  e.metric = int64_t{3};
  e.ttl = 10;
  e.tags = {"t"};
  e.attributes = {{"k", "v"}};
  auto back = jc::decode(jc::encode(e), now);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, e);
}

TEST(json_codec, encode_iso_time_and_flat_attributes) {
  dmon::event e;
  e.time_us = 1'767'225'601'250'000;
  e.attributes = {{"k", "v"}};
  EXPECT_EQ(jc::encode(e, true, true),
            R"({"description":null,"host":null,"k":"v","metric":null,"service":null,"state":null,)"
            R"("tags":null,"time":"2026-01-01T00:00:01.250Z","ttl":null})");
}
