// protobuf_codec: Riemann's codec rules in both directions, checked against raw protobuf messages.
#include "protobuf_codec.hpp"

#include <gtest/gtest.h>

#include "riemann.pb.h"

namespace pc = dmon::protobuf_codec;

namespace {

constexpr int64_t now = 1'700'000'000'123'456;

dmon::event decode_one(const ::Msg& msg) {
  auto req = pc::decode_request(msg.SerializeAsString(), now);
  EXPECT_TRUE(req);
  EXPECT_EQ(req->events.size(), 1u);
  return req->events.at(0);
}

}  // namespace

TEST(protobuf_codec, decodes_every_field) {
  ::Msg msg;
  auto* e = msg.add_events();
  e->set_host("web-1");
  e->set_service("cpu");
  e->set_state("warning");
  e->set_description("hot");
  e->set_time(1'600'000'000);
  e->set_ttl(30.5f);
  e->set_metric_d(0.93);
  e->add_tags("a");
  e->add_tags("b");
  auto* a = e->add_attributes();
  a->set_key("rack");
  a->set_value("r1");
  auto ev = decode_one(msg);
  EXPECT_EQ(ev.host, "web-1");
  EXPECT_EQ(ev.service, "cpu");
  EXPECT_EQ(ev.state, "warning");
  EXPECT_EQ(ev.description, "hot");
  EXPECT_EQ(ev.time_us, 1'600'000'000'000'000);
  EXPECT_DOUBLE_EQ(*ev.ttl, 30.5);
  EXPECT_EQ(ev.metric, dmon::metric_value{0.93});
  EXPECT_EQ(ev.tags, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(ev.attributes.size(), 1u);
  EXPECT_EQ(ev.attributes[0], (dmon::attribute{"rack", "r1"}));
}

TEST(protobuf_codec, absent_fields_stay_absent) {
  ::Msg msg;
  msg.add_events();
  auto ev = decode_one(msg);
  EXPECT_FALSE(ev.host);
  EXPECT_FALSE(ev.service);
  EXPECT_FALSE(ev.state);
  EXPECT_FALSE(ev.description);
  EXPECT_FALSE(ev.ttl);
  EXPECT_FALSE(ev.has_metric());
  EXPECT_TRUE(ev.tags.empty());
}

TEST(protobuf_codec, empty_string_differs_from_absent) {
  ::Msg msg;
  msg.add_events()->set_host("");
  auto ev = decode_one(msg);
  ASSERT_TRUE(ev.host);
  EXPECT_EQ(*ev.host, "");
}

TEST(protobuf_codec, metric_sint64_wins_over_d_and_f) {
  ::Msg msg;
  auto* e = msg.add_events();
  e->set_metric_sint64(-42);
  e->set_metric_d(1.5);
  e->set_metric_f(2.5f);
  EXPECT_EQ(decode_one(msg).metric, dmon::metric_value{int64_t{-42}});
}

TEST(protobuf_codec, metric_d_wins_over_f) {
  ::Msg msg;
  auto* e = msg.add_events();
  e->set_metric_d(1.25);
  e->set_metric_f(2.5f);
  EXPECT_EQ(decode_one(msg).metric, dmon::metric_value{1.25});
}

TEST(protobuf_codec, metric_f_alone_becomes_a_double) {
  ::Msg msg;
  msg.add_events()->set_metric_f(0.5f);
  EXPECT_EQ(decode_one(msg).metric, dmon::metric_value{0.5});
}

TEST(protobuf_codec, time_micros_wins_over_time) {
  ::Msg msg;
  auto* e = msg.add_events();
  e->set_time(1);
  e->set_time_micros(2'000'001);
  EXPECT_EQ(decode_one(msg).time_us, 2'000'001);
}

TEST(protobuf_codec, missing_time_is_server_time) {
  ::Msg msg;
  msg.add_events();
  EXPECT_EQ(decode_one(msg).time_us, now);
}

TEST(protobuf_codec, attributes_cannot_override_core_fields) {
  ::Msg msg;
  auto* e = msg.add_events();
  e->set_host("h");
  for (auto key : {"host", "time", "ttl", "metric", "tags", "env"}) {
    auto* a = e->add_attributes();
    a->set_key(key);
    a->set_value("x");
  }
  auto ev = decode_one(msg);
  EXPECT_EQ(ev.host, "h");
  ASSERT_EQ(ev.attributes.size(), 1u);
  EXPECT_EQ(ev.attributes[0].key, "env");
}

TEST(protobuf_codec, reads_the_query) {
  auto req = pc::decode_request(pc::encode_query("service = \"cpu\""), now);
  ASSERT_TRUE(req);
  EXPECT_TRUE(req->events.empty());
  EXPECT_EQ(req->query, "service = \"cpu\"");
}

TEST(protobuf_codec, deprecated_states_are_ignored) {
  ::Msg msg;
  msg.add_states()->set_host("old");
  auto req = pc::decode_request(msg.SerializeAsString(), now);
  ASSERT_TRUE(req);
  EXPECT_TRUE(req->events.empty());
  EXPECT_FALSE(req->query);
}

TEST(protobuf_codec, garbage_is_malformed_input_with_a_reason) {
  auto req = pc::decode_request("\xff\xff\xff\xff garbage", now);
  ASSERT_FALSE(req);
  EXPECT_EQ(req.error().code, dmon::ec::malformed_input);
  EXPECT_NE(req.error().message.find("not a valid Riemann protobuf Msg"), std::string::npos);
}

TEST(protobuf_codec, attribute_without_required_key_is_malformed) {
  ::Msg msg;
  msg.add_events()->add_attributes()->set_value("v");  // key is `required`
  auto req = pc::decode_request(msg.SerializePartialAsString(), now);
  EXPECT_FALSE(req);
}

TEST(protobuf_codec, request_decoder_appends_frame_after_frame) {
  pc::request_decoder decoder;
  std::vector<dmon::event> events;
  for (int i = 0; i < 50; ++i) {
    ::Msg msg;
    for (int j = 0; j <= i % 3; ++j) {
      auto* e = msg.add_events();
      e->set_host("h" + std::to_string(i));
      e->set_service("s" + std::to_string(j));
      if (j == 0)
        e->add_tags("t" + std::to_string(i));  // reused Msgs must not keep earlier tags
    }
    auto query = decoder.decode(msg.SerializeAsString(), now, events);
    ASSERT_TRUE(query);
    EXPECT_FALSE(*query);
  }
  ASSERT_EQ(events.size(), 50u / 3 * 6 + 1 + 2);  // 1, 2, 3 events per frame in turn
  size_t at = 0;
  for (int i = 0; i < 50; ++i)
    for (int j = 0; j <= i % 3; ++j, ++at) {
      EXPECT_EQ(events[at].host, "h" + std::to_string(i));
      EXPECT_EQ(events[at].service, "s" + std::to_string(j));
      EXPECT_EQ(events[at].tags.size(), j == 0 ? 1u : 0u);
      EXPECT_EQ(events[at].time_us, now);
    }
}

TEST(protobuf_codec, request_decoder_appends_nothing_for_a_bad_frame_and_goes_on) {
  pc::request_decoder decoder;
  std::vector<dmon::event> events;
  ::Msg good;
  good.add_events()->set_host("a");
  ASSERT_TRUE(decoder.decode(good.SerializeAsString(), now, events));
  ::Msg bad;
  bad.add_events()->set_host("lost");
  bad.add_events()->add_attributes()->set_value("v");  // no key: not a valid Msg
  auto failed = decoder.decode(bad.SerializePartialAsString(), now, events);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, dmon::ec::malformed_input);
  EXPECT_EQ(events.size(), 1u);
  auto query = decoder.decode(pc::encode_query("host = \"a\""), now, events);
  ASSERT_TRUE(query);
  EXPECT_EQ(*query, "host = \"a\"");
  EXPECT_EQ(events.size(), 1u);
}

TEST(protobuf_codec, encodes_integer_metric_with_metric_f_and_both_times) {
  dmon::event ev;
  ev.metric = int64_t{7};
  ev.time_us = 1'500'000'000'250'000;
  std::string bytes = pc::encode_events(std::span{&ev, 1});
  ::Msg msg;
  ASSERT_TRUE(msg.ParseFromString(bytes));
  auto& e = msg.events(0);
  EXPECT_EQ(e.metric_sint64(), 7);
  EXPECT_FALSE(e.has_metric_d());
  EXPECT_FLOAT_EQ(e.metric_f(), 7.0f);
  EXPECT_EQ(e.time_micros(), 1'500'000'000'250'000);
  EXPECT_EQ(e.time(), 1'500'000'000);
}

TEST(protobuf_codec, encodes_double_metric_as_d_and_f) {
  dmon::event ev;
  ev.metric = 0.25;
  ::Msg msg;
  ASSERT_TRUE(msg.ParseFromString(pc::encode_events(std::span{&ev, 1})));
  EXPECT_FALSE(msg.events(0).has_metric_sint64());
  EXPECT_DOUBLE_EQ(msg.events(0).metric_d(), 0.25);
  EXPECT_FLOAT_EQ(msg.events(0).metric_f(), 0.25f);
}

TEST(protobuf_codec, round_trips_every_field) {
  dmon::event ev;
  ev.host = "h";
  ev.service = "s";
  ev.state = "ok";
  ev.description = "d";
  ev.time_us = 123'456'789;
  ev.ttl = 12.5;
  ev.metric = int64_t{1} << 40;
  ev.tags = {"x", "y"};
  ev.attributes = {{"k", "v"}};
  auto req = pc::decode_request(pc::encode_events(std::span{&ev, 1}), now);
  ASSERT_TRUE(req);
  EXPECT_EQ(req->events.at(0), ev);
}

TEST(protobuf_codec, reply_carries_ok_error_and_events) {
  dmon::event ev;
  ev.host = "h";
  auto r = pc::decode_reply(pc::encode_reply(false, "no index", std::span{&ev, 1}));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->error, "no index");
  ASSERT_EQ(r->events.size(), 1u);
  EXPECT_EQ(r->events[0].host, "h");
  EXPECT_FALSE(r->events[0].time_us);
}
