// cluster_query: the scatter answers through its callback, never on the asking thread, once
// every member answered or the timeout passed; a silent member is covered or refused.
#include "cluster_query.hpp"

#include <gtest/gtest.h>
#include <caf/all.hpp>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>

#include "event_batch_codec.hpp"
#include "interfaces.hpp"
#include "ownership.hpp"

namespace {

using namespace std::chrono_literals;
using dmon::event;

event entry(const std::string& host) {
  event e;
  e.host = host;
  e.service = "s";
  e.time_us = 1;
  return e;
}

// A member's keeper: answers every cquery with `owned` (and no replica copies).
caf::behavior fake_keeper(caf::event_based_actor*, std::vector<event> owned,
                          std::vector<event> copies) {
  return {[=](dmon::cquery_atom, const std::string&) {
    return std::make_tuple(dmon::event_batch_codec::encode(owned),
                           dmon::event_batch_codec::encode(copies));
  }};
}

// A frozen member's keeper: takes the request and never answers it.
caf::behavior silent_keeper(caf::event_based_actor* self) {
  auto held = std::make_shared<std::vector<caf::response_promise>>();
  return {[self, held](dmon::cquery_atom, const std::string&) {
    held->push_back(self->make_response_promise());
    return caf::delegated<std::string, std::string>{};
  }};
}

// The answer, handed over from whichever thread gives it.
struct answer_box {
  std::mutex mtx;
  std::condition_variable cv;
  std::optional<dmon::query_answer> got;
  int calls = 0;

  std::function<void(dmon::query_answer)> callback() {
    return [this](dmon::query_answer a) {
      std::lock_guard lock{mtx};
      ++calls;
      got.emplace(std::move(a));
      cv.notify_all();
    };
  }
  bool has() {
    std::lock_guard lock{mtx};
    return got.has_value();
  }
  dmon::query_answer wait() {
    std::unique_lock lock{mtx};
    EXPECT_TRUE(cv.wait_for(lock, 20s, [&] { return got.has_value(); }))
        << "no answer within the failure guard";
    return got ? *got : dmon::query_answer{std::vector<event>{}};
  }
};

class cluster_query_test : public ::testing::Test {
 protected:
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::function<dmon::query_answer(const std::string&)> local = [](const std::string&) {
    return dmon::query_answer{std::vector<event>{entry("local-only")}};
  };

  void SetUp() override { sys = std::make_unique<caf::actor_system>(cfg); }

  // Hosts owned by `owner` in a view of a and b.
  std::vector<event> owned_by(const dmon::cluster_view& view, const std::string& owner) {
    std::vector<event> out;
    for (int i = 0; out.size() < 3; ++i) {
      auto e = entry("h" + std::to_string(i));
      if (view.owner(dmon::ownership::key_hash(e)) == owner)
        out.push_back(e);
    }
    return out;
  }

  void link_to(dmon::cluster_link& link, dmon::cluster_view view,
               std::map<std::string, caf::actor> keepers) {
    link.set(std::make_shared<const dmon::cluster_link::snapshot>(
        dmon::cluster_link::snapshot{std::move(view), std::move(keepers)}));
  }

  void TearDown() override { sys->await_all_actors_done(); }
};

std::set<std::string> hosts(const std::vector<event>& events) {
  std::set<std::string> out;
  for (auto& e : events)
    out.insert(*e.host);
  return out;
}

}  // namespace

TEST_F(cluster_query_test, every_members_share_is_merged_and_handed_to_the_callback_once) {
  dmon::cluster_view view{dmon::ring{{"a", "b"}}, "a", 2};
  auto a_keys = owned_by(view, "a");
  auto b_keys = owned_by(view, "b");
  dmon::cluster_link link{100, 2};
  auto a = sys->spawn(fake_keeper, a_keys, b_keys);  // a holds b's as replicas
  auto b = sys->spawn(fake_keeper, b_keys, a_keys);
  link_to(link, view, {{"a", a}, {"b", b}});
  answer_box box;
  dmon::cluster_query(*sys, link, "true", 2s, local, box.callback());
  auto got = box.wait();
  ASSERT_TRUE(got) << got.error().message;
  std::set<std::string> want;
  for (auto& e : a_keys)
    want.insert(*e.host);
  for (auto& e : b_keys)
    want.insert(*e.host);
  EXPECT_EQ(hosts(*got), want);
  EXPECT_EQ(got->size(), want.size()) << "replica copies are not answered twice";
  EXPECT_EQ(box.calls, 1);
  EXPECT_EQ(link.counters.queries.load(), 1u);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
}

TEST_F(cluster_query_test, a_silent_member_costs_the_timeout_not_the_asking_thread) {
  dmon::cluster_view view{dmon::ring{{"a", "b"}}, "a", 2};
  auto a_keys = owned_by(view, "a");
  auto b_keys = owned_by(view, "b");
  dmon::cluster_link link{100, 2};
  auto a = sys->spawn(fake_keeper, a_keys, b_keys);
  auto b = sys->spawn(silent_keeper);
  link_to(link, view, {{"a", a}, {"b", b}});
  answer_box box;
  dmon::cluster_query(*sys, link, "true", 300ms, local, box.callback());
  // The call returned with b still silent: nothing was answered on this thread.
  EXPECT_FALSE(box.has());
  auto got = box.wait();
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->size(), a_keys.size() + b_keys.size()) << "a's replicas stand in for b";
  EXPECT_EQ(link.counters.query_members_missing.load(), 1u);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
}

TEST_F(cluster_query_test, with_replication_1_a_silent_member_refuses_the_query_naming_it) {
  dmon::cluster_view view{dmon::ring{{"a", "b"}}, "a", 1};
  dmon::cluster_link link{100, 1};
  auto a = sys->spawn(fake_keeper, owned_by(view, "a"), std::vector<event>{});
  auto b = sys->spawn(silent_keeper);
  link_to(link, view, {{"a", a}, {"b", b}});
  answer_box box;
  dmon::cluster_query(*sys, link, "true", 300ms, local, box.callback());
  auto got = box.wait();
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, dmon::ec::unreachable);
  EXPECT_NE(got.error().message.find("from b ("), std::string::npos) << got.error().message;
  EXPECT_EQ(link.counters.partial_queries.load(), 1u);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
}

TEST_F(cluster_query_test, a_bad_query_and_a_node_alone_are_answered_at_once) {
  dmon::cluster_view view{dmon::ring{{"a", "b"}}, "a", 2};
  dmon::cluster_link link{100, 2};
  auto a = sys->spawn(silent_keeper);
  link_to(link, view, {{"a", a}, {"b", a}});
  answer_box bad;
  dmon::cluster_query(*sys, link, "service = ", 2s, local, bad.callback());
  ASSERT_TRUE(bad.has()) << "answered on the asking thread, before any member was asked";
  EXPECT_EQ(bad.wait().error().code, dmon::ec::bad_query);
  dmon::cluster_link alone{100, 2};
  answer_box mine;
  dmon::cluster_query(*sys, alone, "true", 2s, local, mine.callback());
  ASSERT_TRUE(mine.has());
  auto got = mine.wait();
  ASSERT_TRUE(got);
  EXPECT_EQ(hosts(*got), std::set<std::string>{"local-only"});
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}
