// Native stream nodes without Python: timers, compiler refusals, rate/throttle/coalesce/by
// behaviour, state.
#include <gtest/gtest.h>

#include "native/compile.hpp"
#include "native/engine.hpp"
#include "native/nodes.hpp"

using namespace dmon;
using namespace dmon::native;

namespace {

struct harness {
  double now = 100.0;
  std::vector<event> indexed;
  std::vector<std::pair<std::string, event>> published;
  engine eng{[this] { return now; },
             sinks{[this](event&& e) { indexed.push_back(std::move(e)); },
                   [this](event&& e) { indexed.push_back(std::move(e)); },
                   [this](const std::string& t, const event& e) { published.emplace_back(t, e); }}};

  size_t add(const char* desc) {
    auto r = eng.add("stream", json::parse(desc));
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : 0;
  }
  void push(const event& e) { eng.push(0, e); }
};

event ev(std::optional<std::string> host, metric_value metric = {}, std::optional<double> t = {}) {
  event e;
  e.host = std::move(host);
  e.metric = metric;
  if (t)
    e.time_us = static_cast<int64_t>(*t * 1e6);
  return e;
}

}  // namespace

TEST(native_context, timers_run_by_due_then_creation_order_and_see_their_due_time) {
  std::vector<std::string> log;
  double clock = 0;
  context ctx{[&] { return clock; }, {}};
  ctx.every(1, 1, [&] { log.push_back("a@" + std::to_string(ctx.now())); });
  auto b = ctx.at(1, [&] { log.push_back("b@" + std::to_string(ctx.now())); });
  auto c = ctx.at(0.5, [&] { log.push_back("c"); });
  c->cancel();
  ctx.tick(2.5);
  EXPECT_EQ(log, (std::vector<std::string>{"a@1.000000", "b@1.000000", "a@2.000000"}));
  EXPECT_EQ(ctx.now(), 0);  // back to the clock after the tick
  EXPECT_EQ(ctx.pending(), 1u);
}

TEST(native_compile, refuses_python_parts_and_says_where) {
  double now = 0;
  context ctx{[&] { return now; }, {}};
  auto r = compile(json::parse(R"({"stream":"where","query":"metric > 1","children":[
      {"stream":"rate","interval":5,"children":[{"stream":"python"}]}],"else":[]})"),
                   ctx);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ec::unsupported);
  EXPECT_NE(r.error().message.find("where/0:rate/0:python"), std::string::npos)
      << r.error().message;
  r = compile(json::parse(R"({"stream":"where","predicate":"python","children":[]})"), ctx);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("Python predicate"), std::string::npos);
  r = compile(
      json::parse(R"({"stream":"coalesce","dt":1,"children":[{"stream":"tag","tags":["a"]}]})"),
      ctx);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("lists"), std::string::npos);
  r = compile(json::parse(R"({"stream":"with","field_list":[["rack",1.5]],"children":[]})"), ctx);
  ASSERT_FALSE(r) << "str(float) is Python's to format";
  r = compile(json::parse(R"({"stream":"where","query":"metric >","children":[]})"), ctx);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("query"), std::string::npos);
}

TEST(native_rate, sums_per_interval_on_the_last_event_with_a_decaying_ttl) {
  harness h;
  h.add(R"({"stream":"rate","interval":2,"children":[{"stream":"index"}]})");
  auto e = ev("a", int64_t{3}, 100.0);
  e.ttl = 10;
  h.push(e);
  h.push(ev("a", 1.5, 100.0));  // no ttl: last event now has none
  e.metric = int64_t{1};
  h.push(e);
  h.eng.tick(102);
  ASSERT_EQ(h.indexed.size(), 1u);
  EXPECT_EQ(h.indexed[0].metric, metric_value{2.75});
  EXPECT_EQ(h.indexed[0].time_us, 102'000'000);
  EXPECT_EQ(h.indexed[0].ttl, 10.0);  // ttl + interval - interval
  h.eng.tick(104);
  ASSERT_EQ(h.indexed.size(), 2u);
  EXPECT_EQ(h.indexed[1].metric, metric_value{0.0});
  EXPECT_EQ(h.indexed[1].ttl, 8.0);
  h.eng.tick(200);  // time + ttl passed: the rate stops
  EXPECT_EQ(h.indexed.size(), 5u);
  EXPECT_EQ(h.eng.ctx().pending(), 0u);
}

TEST(native_throttle, passes_n_per_window_on_the_anchor_grid) {
  harness h;
  h.add(R"({"stream":"throttle","n":2,"dt":1,"anchor":99.5,"children":[{"stream":"index"}]})");
  for (int i = 0; i < 4; ++i)
    h.push(ev("a"));
  EXPECT_EQ(h.indexed.size(), 2u);
  auto st = h.eng.own_state(0, "throttle");
  EXPECT_EQ(st["end"], 100.5);
  EXPECT_EQ(st["window"], 4);
  h.eng.tick(100.5);
  h.now = 100.6;
  h.push(ev("a"));
  EXPECT_EQ(h.indexed.size(), 3u);
}

TEST(native_coalesce, sends_the_latest_per_key_as_one_list_and_forgets_expired) {
  harness h;
  h.add(
      R"({"stream":"coalesce","dt":1,"children":[{"stream":"with","field_list":[["description","x"]],
          "children":[{"stream":"index"}]}]})");
  h.push(ev("a", int64_t{1}));
  h.push(ev("b", int64_t{1}));
  auto gone = ev("a", int64_t{2});
  gone.state = "expired";
  h.push(gone);  // an expired event also stops the flushes
  h.eng.tick(101);
  EXPECT_EQ(h.indexed.size(), 0u);
  h.push(ev("c"));  // restarts them, at now + 0
  h.eng.tick(100);
  ASSERT_EQ(h.indexed.size(), 3u);
  EXPECT_EQ(h.indexed[0].state, "expired");  // "a" kept its place, with its latest event
  EXPECT_EQ(h.indexed[0].description, "x");
  h.indexed.clear();
  h.eng.tick(101);
  ASSERT_EQ(h.indexed.size(), 2u);  // the expired one was sent once
  EXPECT_EQ(h.indexed[0].host, "b");
}

TEST(native_by, forks_per_key_collects_idle_forks_and_saves_them_as_python_does) {
  harness h;
  h.add(R"({"stream":"by","fields":["host"],"idle":5,"children":[{"stream":"factory","children":[
          {"stream":"changed","field":"state","pairs":false,"init":null,"children":[{"stream":"index"}]}]}]})");
  auto a = ev("a");
  a.state = "ok";
  auto b = ev("b");
  b.state = "ok";
  h.push(a);
  h.push(b);
  h.push(a);
  EXPECT_EQ(h.indexed.size(), 2u);  // each key's first state is a change from None
  auto st = h.eng.own_state(0, "by");
  ASSERT_EQ(st["forks"].size(), 2u);
  EXPECT_EQ(st["forks"][0][0], "a");
  EXPECT_EQ(st["forks"][0][1][0]["s"]["value"], "ok");
  EXPECT_EQ(st["forks"][0][2], 100.0);
  h.now = 103;
  h.push(b);
  h.eng.tick(105);  // "a" idle since 100: collected; "b" seen at 103 stays
  st = h.eng.own_state(0, "by");
  ASSERT_EQ(st["forks"].size(), 1u);
  EXPECT_EQ(st["forks"][0][0], "b");
  h.push(a);  // a new fork: a change again
  EXPECT_EQ(h.indexed.size(), 3u);
}

TEST(native_with, sets_and_removes_fields_and_keeps_attribute_order) {
  harness h;
  h.add(R"({"stream":"sdo","children":[
      {"stream":"with","field_list":[["env",null],["zone","z"],["rack",7],["host",null]],
       "children":[{"stream":"index"}]},
      {"stream":"default","field_list":[["zone","d"],["ttl",5],["metric",null]],
       "children":[{"stream":"index"}]}]})");
  auto e = ev("a");
  e.attributes = {{"env", "prod"}, {"zone", "old"}};
  h.push(e);
  ASSERT_EQ(h.indexed.size(), 2u);
  EXPECT_FALSE(h.indexed[0].host);
  EXPECT_EQ(h.indexed[0].attributes, (std::vector<attribute>{{"zone", "z"}, {"rack", "7"}}));
  EXPECT_EQ(h.indexed[1].attributes, e.attributes);  // default keeps what is there
  EXPECT_EQ(h.indexed[1].ttl, 5.0);
  EXPECT_FALSE(h.indexed[1].has_metric());
}

// An event handed over (push_owned) reaches every child as it was, and the last child on its
// path takes the caller's event itself: its heap-held strings are the caller's, not copies.
TEST(native_owned, earlier_children_see_the_event_whole_and_the_last_sink_takes_it) {
  harness h;
  h.add(R"({"stream":"sdo","children":[
      {"stream":"index"},
      {"stream":"with","field_list":[["zone","z"]],"children":[{"stream":"index"}]},
      {"stream":"where","query":"host =~ \"long%\"","children":[
        {"stream":"by","fields":["host"],"children":[{"stream":"factory","children":[
          {"stream":"tag","tags":["t"],"children":[]},
          {"stream":"store"}]}]}],"else":[]}]})");
  auto e = ev("long host name, longer than any short-string buffer", int64_t{3}, 5.0);
  e.description = std::string(64, 'd');
  const event original = e;
  const char* description_bytes = e.description->data();
  h.eng.push_owned(0, std::move(e));
  ASSERT_EQ(h.indexed.size(), 3u);
  EXPECT_EQ(h.indexed[0], original);
  EXPECT_EQ(h.indexed[1].attributes, (std::vector<attribute>{{"zone", "z"}}));
  EXPECT_EQ(h.indexed[1].description, original.description);
  EXPECT_EQ(h.indexed[2], original);  // store: time was set, nothing else changes
  EXPECT_EQ(h.indexed[2].description->data(), description_bytes);
  EXPECT_NE(h.indexed[0].description->data(), description_bytes);
}

TEST(native_owned, a_shared_push_leaves_the_event_alone) {
  harness h;
  h.add(R"({"stream":"sdo","children":[{"stream":"index"},{"stream":"store"}]})");
  const auto e = ev("h", 1.5);  // no time: store stamps its own copy
  h.push(e);
  ASSERT_EQ(h.indexed.size(), 2u);
  EXPECT_EQ(h.indexed[0], e);
  EXPECT_EQ(h.indexed[1].time_us, int64_t{100'000'000});
  EXPECT_FALSE(e.time_us);
}

TEST(native_state, a_rate_restored_from_its_json_goes_on_where_it_stopped) {
  harness a;
  a.add(R"({"stream":"where","query":"host = \"x\"","children":[
      {"stream":"rate","interval":1,"children":[{"stream":"index"}]}],"else":[]})");
  a.push(ev("x", int64_t{4}, 100.0));
  auto saved = a.eng.own_state(0, "where/0:rate");
  EXPECT_EQ(saved["sum"], 4);
  EXPECT_TRUE(saved["periodic"]["running"].get<bool>());
  EXPECT_TRUE(a.eng.own_state(0, "where").is_null());

  harness b;
  b.add(R"({"stream":"where","query":"host = \"x\"","children":[
      {"stream":"rate","interval":1,"children":[{"stream":"index"}]}],"else":[]})");
  ASSERT_TRUE(b.eng.restore_own(0, "where/0:rate", json::parse(saved.dump())));
  EXPECT_FALSE(b.eng.restore_own(0, "where/1:rate", saved));
  b.eng.tick(101);
  ASSERT_EQ(b.indexed.size(), 1u);
  EXPECT_EQ(b.indexed[0].metric, metric_value{4.0});
  EXPECT_EQ(b.indexed[0].host, "x");
}

TEST(native_numbers, compare_ints_and_floats_exactly_as_python) {
  number big{true, (int64_t{1} << 53) + 1, 0};
  EXPECT_EQ(compare(metric_value{static_cast<double>(int64_t{1} << 53)}, big), -1);
  EXPECT_EQ(compare(metric_value{int64_t{3}}, number{false, 0, 2.5}), 1);
  EXPECT_EQ(compare(metric_value{std::nan("")}, number{true, 1, 0}), 2);
  auto s = number{true, 1, 0} + number{false, 0, 0.5};
  EXPECT_FALSE(s.is_int);
  EXPECT_EQ(s.d, 1.5);
}
