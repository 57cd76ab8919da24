// Tests of the public query API: parse, predicate, exact_key, to_string and the LRU cache.
#include "query/query.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

using namespace dmon::query;
using dmon::ec;
using dmon::event;

namespace {

predicate must_parse(std::string_view q) {
  auto p = parse(q);
  EXPECT_TRUE(p) << q << ": " << (p ? "" : p.error().message);
  if (!p)
    return *parse("false");
  return *p;
}

std::optional<exact_key_type> key_of(std::string_view q) {
  return must_parse(q).exact_key();
}

exact_key_type key(std::optional<std::string> host, std::optional<std::string> service) {
  return {std::move(host), std::move(service)};
}

event host_service(std::optional<std::string> h, std::optional<std::string> s) {
  event e;
  e.host = std::move(h);
  e.service = std::move(s);
  return e;
}

}  // namespace

TEST(query_api, parse_returns_a_predicate_that_matches_events) {
  auto p = parse("service = \"cpu\" and metric > 0.9");
  ASSERT_TRUE(p);
  event e;
  e.service = "cpu";
  e.metric = 0.95;
  EXPECT_TRUE(p->matches(e));
  e.metric = 0.5;
  EXPECT_FALSE(p->matches(e));
}

TEST(query_api, parse_errors_are_bad_query_values) {
  auto p = parse("metric > \"x\"");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ec::bad_query);
  EXPECT_EQ(p.error().message,
            "parse error at column 10: expected a number after '>' but found the string \"x\" in "
            "'metric > \"x\"'");
}

TEST(query_api, to_string_is_the_canonical_form) {
  EXPECT_EQ(must_parse("metric>0.5").to_string(), "metric>0.5")
      << "glued, this is one bare field name";
  EXPECT_EQ(must_parse("(host =~ \"a%\")   or((tagged \"x\"))").to_string(),
            "host =~ \"a%\" or tagged \"x\"");
  EXPECT_EQ(must_parse("null").to_string(), "nil");
  EXPECT_EQ(must_parse("not (a and b or c)").to_string(), "not (a and b or c)");
}

TEST(query_api, copies_share_one_compiled_tree) {
  auto p = must_parse("host = \"a\"");
  auto q = p;
  EXPECT_EQ(&p.root(), &q.root());
}

TEST(query_api, exact_key_recognises_host_and_service_in_either_order) {
  EXPECT_EQ(key_of("host = \"a\" and service = \"b\""), key("a", "b"));
  EXPECT_EQ(key_of("service = \"b\" and host = \"a\""), key("a", "b"));
}

TEST(query_api, exact_key_accepts_the_value_on_either_side_of_equals) {
  EXPECT_EQ(key_of("\"a\" = host and \"b\" = service"), key("a", "b"));
}

TEST(query_api, exact_key_allows_nil_for_either_part) {
  EXPECT_EQ(key_of("host = nil and service = \"b\""), key(std::nullopt, "b"));
  EXPECT_EQ(key_of("host = \"a\" and service = null"), key("a", std::nullopt));
  EXPECT_EQ(key_of("host = nil and service = nil"), key(std::nullopt, std::nullopt));
  EXPECT_EQ(key_of("host = \"\" and service = \"\""), key("", ""));
}

TEST(query_api, exact_key_ignores_redundant_parentheses) {
  EXPECT_EQ(key_of("((host = \"a\") and (service = \"b\"))"), key("a", "b"));
}

TEST(query_api, exact_key_refuses_every_other_shape) {
  for (auto q : {"host = \"a\"", "service = \"b\"", "host = \"a\" or service = \"b\"",
                 "host = \"a\" and service = \"b\" and state = \"ok\"",
                 "(host = \"a\" and service = \"b\") and true", "host = \"a\" and host = \"b\"",
                 "service = \"a\" and service = \"b\"", "host != \"a\" and service = \"b\"",
                 "host = \"a\" and service =~ \"b\"", "host = 1 and service = \"b\"",
                 "host = \"a\" and service = 1.5", "host = \"a\" and service = true",
                 "host = service and service = \"b\"", "host = \"a\" and not service = \"b\"",
                 "state = \"a\" and service = \"b\"", "not (host = \"a\" and service = \"b\")",
                 "host = \"a\" and tagged \"b\"", "true"})
    EXPECT_EQ(key_of(q), std::nullopt) << q;
}

TEST(query_api, exact_key_agrees_with_matches) {
  std::vector<event> events = {host_service("a", "b"),
                               host_service("a", "c"),
                               host_service(std::nullopt, "b"),
                               host_service("a", std::nullopt),
                               host_service(std::nullopt, std::nullopt),
                               host_service("", "")};
  for (auto q : {"host = \"a\" and service = \"b\"", "service = nil and host = \"a\"",
                 "host = nil and service = nil", "host = \"\" and service = \"\""}) {
    auto p = must_parse(q);
    auto k = p.exact_key();
    ASSERT_TRUE(k) << q;
    for (auto& e : events)
      EXPECT_EQ(p.matches(e), e.host == k->first && e.service == k->second) << q;
  }
}

TEST(query_api, the_cache_returns_the_same_compiled_predicate_for_the_same_text) {
  predicate_cache cache;
  auto a = cache.parse("host = \"a\"");
  auto b = cache.parse("host = \"a\"");
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(&a->root(), &b->root());
  EXPECT_EQ(cache.size(), 1u);
}

TEST(query_api, the_cache_does_not_keep_failed_parses) {
  predicate_cache cache;
  auto p = cache.parse("host =");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ec::bad_query);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(query_api, the_cache_holds_64_entries_by_default) {
  predicate_cache cache;
  for (int i = 0; i < 100; ++i)
    ASSERT_TRUE(cache.parse("metric = " + std::to_string(i)));
  EXPECT_EQ(cache.size(), 64u);
}

TEST(query_api, the_cache_evicts_the_least_recently_used_entry) {
  predicate_cache cache{2};
  auto a = cache.parse("a");
  auto b = cache.parse("b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(&cache.parse("a")->root(), &a->root()) << "touching a makes b the oldest";
  ASSERT_TRUE(cache.parse("c"));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(&cache.parse("a")->root(), &a->root()) << "a survived";
  EXPECT_NE(&cache.parse("b")->root(), &b->root()) << "b was evicted and parsed anew";
}

TEST(query_api, a_zero_capacity_cache_still_holds_one_entry) {
  predicate_cache cache{0};
  ASSERT_TRUE(cache.parse("a"));
  ASSERT_TRUE(cache.parse("b"));
  EXPECT_EQ(cache.size(), 1u);
}

TEST(query_api, parse_cached_shares_one_process_wide_cache) {
  auto a = parse_cached("tagged \"shared-cache-test\"");
  auto b = parse_cached("tagged \"shared-cache-test\"");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(&a->root(), &b->root());
  EXPECT_FALSE(parse_cached("(("));
}

TEST(query_api, predicates_and_the_cache_work_from_many_threads) {
  predicate_cache cache{8};
  auto shared = must_parse("host ~= \"^web-[0-9]+$\" and metric > 0.5 or tagged \"x\"");
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      event hit;
      hit.host = "web-" + std::to_string(t);
      hit.metric = 0.75;
      event miss = hit;
      miss.metric = int64_t{0};
      for (int i = 0; i < 2000; ++i) {
        if (!shared.matches(hit) || shared.matches(miss))
          ++wrong;
        auto p = cache.parse("metric = " + std::to_string(i % 16));
        if (!p || p->matches(miss) != (i % 16 == 0))
          ++wrong;
      }
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(cache.size(), 8u);
}
