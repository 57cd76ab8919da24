// tcp_replies: a read's answers rendered frame by frame, and released in read order whatever
// order they are ready in.
#include "tcp_replies.hpp"

#include <gtest/gtest.h>

#include "frame_decoder.hpp"
#include "protobuf_codec.hpp"

using namespace dmon;

namespace {

// Splits rendered answers back into replies.
std::vector<protobuf_codec::reply> replies(const std::string& bytes) {
  frame_decoder d{1 << 20};
  std::vector<std::string> frames;
  EXPECT_TRUE(d.feed(bytes, frames));
  EXPECT_EQ(d.buffered(), 0u);
  std::vector<protobuf_codec::reply> out;
  for (auto& f : frames) {
    auto r = protobuf_codec::decode_reply(f);
    EXPECT_TRUE(r);
    out.push_back(*r);
  }
  return out;
}

frame_batch batch(size_t frames) {
  frame_batch b;
  b.errors.resize(frames);
  b.queries.resize(frames);
  return b;
}

}  // namespace

TEST(tcp_replies, every_frame_gets_its_own_answer_in_order) {
  auto b = batch(3);
  b.errors[1] = "not a Msg";
  b.fatal = "frame too large";
  std::string out;
  render_answers(b, {}, nullptr, out);
  auto r = replies(out);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_TRUE(r[0].ok);
  EXPECT_FALSE(r[1].ok);
  EXPECT_EQ(r[1].error, "not a Msg");
  EXPECT_TRUE(r[2].ok);
  EXPECT_FALSE(r[3].ok);
  EXPECT_EQ(r[3].error, "frame too large");
}

TEST(tcp_replies, a_stream_error_fails_every_decoded_frame) {
  auto b = batch(2);
  b.errors[0] = "not a Msg";
  std::string out;
  render_answers(b, "events were not processed", nullptr, out);
  auto r = replies(out);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].error, "not a Msg");
  EXPECT_EQ(r[1].error, "events were not processed");
}

TEST(tcp_replies, queries_are_answered_with_their_matches) {
  auto b = batch(2);
  b.queries[1] = "service = \"cpu\"";
  b.has_query = true;
  std::vector<std::string> asked;
  query_function query = [&](const std::string& text, const query_visitor& fn) -> result<size_t> {
    asked.push_back(text);
    event e;
    e.host = "a";
    e.service = "cpu";
    fn(e);
    return size_t{1};
  };
  std::string out;
  render_answers(b, {}, &query, out);
  EXPECT_EQ(asked, std::vector<std::string>{"service = \"cpu\""});
  auto r = replies(out);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TRUE(r[0].events.empty());
  EXPECT_TRUE(r[1].ok);
  ASSERT_EQ(r[1].events.size(), 1u);
  EXPECT_EQ(r[1].events[0].host, "a");
}

TEST(tcp_replies, answers_are_released_in_read_order) {
  reply_order order;
  auto first = order.open(2, false);
  auto second = order.open(1, false);
  auto third = order.open(3, true);
  std::string out;
  order.ready(second, "B");
  auto r = order.release(out);
  EXPECT_EQ(r.frames, 0u);  // the first read is not answered yet
  EXPECT_EQ(out, "");
  order.ready(first, "A");
  r = order.release(out);
  EXPECT_EQ(r.frames, 3u);
  EXPECT_FALSE(r.close);
  EXPECT_EQ(out, "AB");
  EXPECT_EQ(order.pending(), 1u);
  order.ready(third, "C");
  r = order.release(out);
  EXPECT_EQ(r.frames, 3u);
  EXPECT_TRUE(r.close);
  EXPECT_EQ(out, "ABC");
  EXPECT_EQ(order.pending(), 0u);
  EXPECT_EQ(order.open(1, false), 3u);  // numbering goes on
}

TEST(tcp_replies, queries_answered_later_are_rendered_in_frame_order_once_all_came_back) {
  auto b = std::make_shared<frame_batch>(batch(3));
  b->queries[0] = "a";
  b->queries[2] = "b";
  b->has_query = true;
  std::vector<std::pair<std::string, std::function<void(result<std::vector<event>>)>>> held;
  auto query = query_function::answered_later(
      [&](const std::string& text, std::function<void(result<std::vector<event>>)> done) {
        held.emplace_back(text, std::move(done));
      });
  std::vector<std::string> delivered;
  render_answers_later(b, query, [&](std::string out) { delivered.push_back(std::move(out)); });
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].first, "a");
  EXPECT_EQ(held[1].first, "b");
  event e;
  e.host = "h";
  held[1].second(std::vector<event>{e, e});  // the later frame answers first
  EXPECT_TRUE(delivered.empty()) << "rendered before every query came back";
  held[0].second(error{ec::unreachable, "cluster query incomplete: node-2"});
  ASSERT_EQ(delivered.size(), 1u);
  auto r = replies(delivered[0]);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_FALSE(r[0].ok);
  EXPECT_EQ(r[0].error, "cluster query incomplete: node-2");
  EXPECT_TRUE(r[1].ok);
  EXPECT_TRUE(r[1].events.empty());
  EXPECT_TRUE(r[2].ok);
  EXPECT_EQ(r[2].events.size(), 2u);
}
