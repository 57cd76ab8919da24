// Tests of dmon::pubsub: channels, filters, unsubscribe, and publishing from many threads.
#include "pubsub.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

using namespace dmon;

namespace {

event make(std::string host, std::string service) {
  event e;
  e.host = std::move(host);
  e.service = std::move(service);
  return e;
}

query::predicate pred(std::string_view q) {
  auto p = query::parse(q);
  EXPECT_TRUE(p) << q;
  return *p;
}

}  // namespace

TEST(pubsub, publish_without_subscribers_does_nothing) {
  pubsub hub;
  hub.publish("index", make("a", "b"));
  EXPECT_EQ(hub.subscribers(), 0u);
  EXPECT_EQ(hub.subscribers("index"), 0u);
}

TEST(pubsub, delivers_to_subscribers_of_the_channel_only) {
  pubsub hub;
  std::vector<std::string> index_got, other_got;
  hub.subscribe("index", std::nullopt, [&](const event& e) { index_got.push_back(*e.host); });
  hub.subscribe("other", std::nullopt, [&](const event& e) { other_got.push_back(*e.host); });
  hub.publish("index", make("a", "cpu"));
  hub.publish("other", make("b", "cpu"));
  hub.publish("nobody", make("c", "cpu"));
  EXPECT_EQ(index_got, std::vector<std::string>{"a"});
  EXPECT_EQ(other_got, std::vector<std::string>{"b"});
  EXPECT_EQ(hub.subscribers(), 2u);
  EXPECT_EQ(hub.subscribers("index"), 1u);
}

TEST(pubsub, a_filter_selects_the_events_a_subscriber_sees) {
  pubsub hub;
  std::vector<std::string> got;
  hub.subscribe("index", pred("service = \"cpu\""),
                [&](const event& e) { got.push_back(*e.host); });
  hub.publish("index", make("a", "cpu"));
  hub.publish("index", make("b", "memory"));
  hub.publish("index", make("c", "cpu"));
  EXPECT_EQ(got, (std::vector<std::string>{"a", "c"}));
}

TEST(pubsub, unsubscribe_stops_delivery_and_forgets_unknown_ids) {
  pubsub hub;
  int a = 0, b = 0;
  auto ida = hub.subscribe("index", std::nullopt, [&](const event&) { ++a; });
  auto idb = hub.subscribe("index", std::nullopt, [&](const event&) { ++b; });
  EXPECT_NE(ida, idb);
  hub.publish("index", make("h", "s"));
  EXPECT_TRUE(hub.unsubscribe(ida));
  EXPECT_FALSE(hub.unsubscribe(ida));
  EXPECT_FALSE(hub.unsubscribe(12345));
  hub.publish("index", make("h", "s"));
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 2);
  EXPECT_TRUE(hub.unsubscribe(idb));
  EXPECT_EQ(hub.subscribers(), 0u);
  EXPECT_EQ(hub.subscribers("index"), 0u);
}

TEST(pubsub, a_callback_may_unsubscribe_itself_without_deadlock) {
  pubsub hub;
  int calls = 0;
  pubsub::subscription_id id = 0;
  id = hub.subscribe("index", std::nullopt, [&](const event&) {
    ++calls;
    hub.unsubscribe(id);
  });
  hub.publish("index", make("h", "s"));
  hub.publish("index", make("h", "s"));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(hub.subscribers(), 0u);
}

TEST(pubsub, many_threads_publish_while_others_subscribe_and_unsubscribe) {
  pubsub hub;
  std::atomic<uint64_t> seen{0};
  hub.subscribe("index", std::nullopt, [&](const event&) { seen.fetch_add(1); });
  constexpr int publishers = 4, per_thread = 5000;
  std::atomic<bool> done{false};
  std::thread churn{[&] {
    while (!done.load()) {
      auto id = hub.subscribe("index", pred("host = \"nobody\""), [](const event&) {});
      hub.unsubscribe(id);
    }
  }};
  std::vector<std::thread> threads;
  for (int t = 0; t < publishers; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i)
        hub.publish("index", make("h", "s"));
    });
  for (auto& t : threads)
    t.join();
  done = true;
  churn.join();
  EXPECT_EQ(seen.load(), uint64_t{publishers} * per_thread);
  EXPECT_EQ(hub.subscribers(), 1u);
}
