// Tests of query evaluation: every construct against events with and without each field.
#include "query/eval.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <initializer_list>
#include <limits>

#include "query/query.hpp"

using namespace dmon::query;
using dmon::attribute;
using dmon::event;

namespace {

// Returns whether `q` (which must parse) matches `e`.
bool matches(std::string_view q, const event& e) {
  auto p = parse(q);
  EXPECT_TRUE(p) << q << ": " << (p ? "" : p.error().message);
  return p && p->matches(e);
}

// Riemann's query_test `f`: `q` matches every good event and no evil one.
void expect_split(std::string_view q, std::initializer_list<event> good,
                  std::initializer_list<event> evil) {
  auto p = parse(q);
  ASSERT_TRUE(p) << q << ": " << p.error().message;
  int i = 0;
  for (auto& e : good)
    EXPECT_TRUE(p->matches(e)) << q << " should match good event #" << i++;
  i = 0;
  for (auto& e : evil)
    EXPECT_FALSE(p->matches(e)) << q << " should not match evil event #" << i++;
}

event with_host(std::string h) {
  event e;
  e.host = std::move(h);
  return e;
}

event with_service(std::string s) {
  event e;
  e.service = std::move(s);
  return e;
}

event with_state(std::string s) {
  event e;
  e.state = std::move(s);
  return e;
}

event with_description(std::string d) {
  event e;
  e.description = std::move(d);
  return e;
}

event with_metric(dmon::metric_value m) {
  event e;
  e.metric = m;
  return e;
}

event with_int(int64_t m) {
  return with_metric(m);
}

event with_float(double m) {
  return with_metric(m);
}

event with_time_us(int64_t t) {
  event e;
  e.time_us = t;
  return e;
}

event with_ttl(double t) {
  event e;
  e.ttl = t;
  return e;
}

event with_tags(std::vector<std::string> tags) {
  event e;
  e.tags = std::move(tags);
  return e;
}

event with_attribute(std::string key, std::string value) {
  event e;
  e.attributes.push_back(attribute{std::move(key), std::move(value)});
  return e;
}

const event empty{};

// One event with every field set, for "present" cases.
event full() {
  event e;
  e.host = "h";
  e.service = "s";
  e.state = "ok";
  e.description = "d";
  e.metric = int64_t{1};
  e.time_us = 1'000'000;
  e.ttl = 10;
  e.tags = {"t"};
  e.attributes = {{"a", "v"}};
  return e;
}

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_v = std::numeric_limits<double>::infinity();

}  // namespace

TEST(query_eval, true_matches_everything_and_false_nil_null_match_nothing) {
  expect_split("true", {with_state("foo"), empty, full()}, {});
  expect_split("false", {}, {with_state("foo"), empty, full()});
  expect_split("nil", {}, {with_state("foo"), empty, full()});
  expect_split("null", {}, {with_state("foo"), empty, full()});
}

TEST(query_eval, other_bare_literals_are_truthy_even_zero_and_empty) {
  for (auto q : {"0", "0.0", "-1", "\"\"", "\"x\"", "NaN", "99999999999999999999N"})
    expect_split(q, {empty, full()}, {});
}

TEST(query_eval, a_bare_field_matches_when_present) {
  expect_split("host", {with_host("h"), with_host("")}, {empty, with_service("h")});
  expect_split("service", {with_service("s")}, {empty});
  expect_split("state", {with_state("ok")}, {empty});
  expect_split("description", {with_description("")}, {empty});
  expect_split("metric", {with_int(0), with_float(0.0), with_float(nan_v)}, {empty});
  expect_split("time", {with_time_us(0)}, {empty});
  expect_split("ttl", {with_ttl(0)}, {empty});
  expect_split("tags", {with_tags({"x"})}, {empty, with_tags({})});
  expect_split("a", {with_attribute("a", ""), full()}, {empty, with_attribute("b", "x")});
}

TEST(query_eval, a_glued_comparison_is_a_field_that_never_matches) {
  expect_split("metric>2", {}, {with_int(3), with_float(5.0), empty});
  expect_split("metric>2", {with_attribute("metric>2", "yes")}, {});
}

TEST(query_eval, not_inverts_a_bare_field) {
  expect_split("not host", {empty, with_service("s")}, {with_host("h")});
}

TEST(query_eval, string_equality_is_exact) {
  expect_split("state = \"foo\"", {with_state("foo")},
               {with_state("bar"), with_state("Foo"), with_state("foo "), empty});
  expect_split("host = \"\"", {with_host("")}, {empty, with_host(" ")});
  expect_split("description = \"辻斬\"", {with_description("辻斬")}, {with_description("辻")});
}

TEST(query_eval, equality_works_with_the_literal_on_the_left) {
  expect_split("\"foo\" = state", {with_state("foo")}, {with_state("bar"), empty});
  expect_split("1 = metric", {with_int(1)}, {with_float(1.0), empty});
}

TEST(query_eval, a_missing_field_equals_nil_and_differs_from_everything_else) {
  expect_split("host = nil", {empty, with_service("x")}, {with_host(""), with_host("nil")});
  expect_split("host != nil", {with_host("")}, {empty});
  expect_split("metric = null", {empty}, {with_int(0)});
  expect_split("nil = nil", {empty, full()}, {});
  // Two missing fields are both nil, hence equal.
  expect_split("x = y", {empty, with_attribute("z", "1")}, {with_attribute("x", "1")});
}

TEST(query_eval, not_equal_is_the_negation_of_equal) {
  // Riemann's not-equal case: a missing field is != 1.
  expect_split("metric != 1", {with_float(0.5), empty, with_float(1.0)}, {with_int(1)});
  expect_split("state != \"ok\"", {with_state("warning"), empty}, {with_state("ok")});
}

TEST(query_eval, integers_and_floats_are_never_equal) {
  expect_split("metric = 1", {with_int(1)}, {with_float(1.0), with_int(2), empty});
  expect_split("metric = 1.0", {with_float(1.0)}, {with_int(1), with_float(1.5), empty});
  expect_split("metric = 1N", {with_int(1)}, {with_float(1.0)});
  expect_split("metric = 1L", {with_int(1)}, {with_float(1.0)});
  expect_split("metric = -0.0", {with_float(0.0), with_float(-0.0)}, {with_int(0)});
}

TEST(query_eval, integer_equality_is_exact_at_the_limits) {
  expect_split("metric = 9223372036854775807", {with_int(INT64_MAX)}, {with_int(INT64_MAX - 1)});
  expect_split("metric = -9223372036854775808", {with_int(INT64_MIN)}, {with_int(INT64_MAX)});
}

TEST(query_eval, big_integers_equal_only_the_same_big_integer) {
  expect_split("metric = 99999999999999999999N", {}, {with_int(INT64_MAX), with_float(1e20)});
  expect_split("99999999999999999999N = 99999999999999999999N", {empty}, {});
  expect_split("99999999999999999999N = 99999999999999999998N", {}, {empty});
}

TEST(query_eval, nan_equals_nothing_not_even_itself) {
  expect_split("metric = NaN", {}, {with_float(nan_v), empty});
  expect_split("metric != NaN", {with_float(nan_v), with_float(1), empty}, {});
  expect_split("NaN = NaN", {}, {empty});
}

TEST(query_eval, infinity_equals_infinity) {
  expect_split("metric = Infinity", {with_float(inf_v)}, {with_float(-inf_v), with_float(1e308)});
  expect_split("metric = -Infinity", {with_float(-inf_v)}, {with_float(inf_v)});
}

TEST(query_eval, booleans_equal_only_booleans) {
  expect_split("true = true", {empty}, {});
  expect_split("true = false", {}, {empty});
  expect_split("state = true", {}, {with_state("true"), empty});
  expect_split("x != false", {empty, with_attribute("x", "false")}, {});
}

TEST(query_eval, attribute_values_are_strings) {
  expect_split("paws = \"4\"", {with_attribute("paws", "4")}, {with_attribute("paws", "5"), empty});
  expect_split("paws = 4", {}, {with_attribute("paws", "4")});
  expect_split("paws > 3", {}, {with_attribute("paws", "4")});
}

TEST(query_eval, the_first_attribute_with_a_name_wins) {
  event e;
  e.attributes = {{"k", "1"}, {"k", "2"}};
  EXPECT_TRUE(matches("k = \"1\"", e));
  EXPECT_FALSE(matches("k = \"2\"", e));
}

TEST(query_eval, custom_fields_combine_with_tags) {
  // Riemann's custom-fields case, with the attribute as a string.
  auto paws = [](std::optional<std::string> p, std::vector<std::string> tags) {
    event e;
    e.time_us = 2'000'000;
    if (p)
      e.attributes.push_back({"paws", *p});
    e.tags = std::move(tags);
    return e;
  };
  expect_split("paws = \"4\" and tagged \"catz\"", {paws("4", {"fuzzy", "catz"})},
               {paws("4", {"fuzzy"}), paws("4", {}), paws("3", {"fuzzy", "catz"}),
                paws(std::nullopt, {"fuzzy", "catz"})});
}

TEST(query_eval, core_fields_shadow_attributes_of_the_same_name) {
  auto e = with_attribute("host", "a");
  EXPECT_FALSE(matches("host = \"a\"", e));
  EXPECT_TRUE(matches("host = nil", e));
  e.host = "b";
  EXPECT_TRUE(matches("host = \"b\"", e));
}

TEST(query_eval, legacy_metric_f_is_just_a_missing_attribute) {
  expect_split("metric_f > 0", {}, {with_float(1.5), with_int(3), empty});
}

TEST(query_eval, time_is_float_seconds) {
  expect_split("time = 2.0", {with_time_us(2'000'000)}, {with_time_us(2'000'001), empty});
  expect_split("time = 2", {}, {with_time_us(2'000'000)});
  expect_split("time = 2.5", {with_time_us(2'500'000)}, {});
  expect_split("time > 1", {with_time_us(1'000'001)}, {with_time_us(1'000'000), empty});
  expect_split("time < 1700000000", {with_time_us(1'699'999'999'999'999)},
               {with_time_us(1'700'000'000'000'000)});
  expect_split("time = -1.5", {with_time_us(-1'500'000)}, {});
}

TEST(query_eval, ttl_is_a_float) {
  expect_split("ttl = 60.0", {with_ttl(60)}, {with_ttl(60.5), empty});
  expect_split("ttl = 60", {}, {with_ttl(60)});
  expect_split("ttl >= 60", {with_ttl(60), with_ttl(61)}, {with_ttl(59.9), empty});
}

TEST(query_eval, tags_compare_as_a_list_and_missing_tags_are_nil) {
  expect_split("tags = nil", {empty, with_tags({})}, {with_tags({"a"})});
  expect_split("tags != nil", {with_tags({"a"})}, {empty});
  expect_split("tags = \"a\"", {}, {with_tags({"a"})});
  expect_split("tags > 0", {}, {with_tags({"a"})});
  expect_split("tags =~ \"%\"", {}, {with_tags({"a"})});
  expect_split("tags ~= \"a\"", {}, {with_tags({"a"})});
}

TEST(query_eval, a_list_equals_an_equal_list) {
  auto e = with_tags({"a", "b"});
  e.attributes.push_back({"tags2", "x"});
  EXPECT_TRUE(matches("tags = tags", e));
}

TEST(query_eval, orderings_match_riemann_inequality_cases) {
  expect_split("metric > 1e10", {with_float(1e11), with_int(10'000'000'001)},
               {with_float(1e10), with_int(10'000'000'000), empty});
  expect_split("metric >= -1", {with_int(0), with_int(-1), with_float(-1.0)},
               {with_int(-2), with_float(-1.0001), empty});
  expect_split("metric < 1.2e2", {with_float(1.5e1), with_int(119)},
               {with_float(1.2e2), with_int(120), empty});
  expect_split("metric <= 1", {with_int(1), with_int(-20), with_float(1.0), with_float(0.5)},
               {with_int(2), with_float(1.0001), empty});
}

TEST(query_eval, orderings_mix_integers_and_floats_numerically) {
  expect_split("metric > 2.5", {with_int(3)}, {with_int(2)});
  expect_split("metric < 3", {with_float(2.5)}, {with_float(3.0)});
  expect_split("metric >= 3", {with_float(3.0)}, {with_float(2.999)});
}

TEST(query_eval, orderings_of_integers_are_exact_beyond_double_precision) {
  // 2^53 + 1 rounds to 2^53 as a double; integer comparison must not.
  expect_split("metric > 9007199254740992", {with_int(9007199254740993)},
               {with_int(9007199254740992)});
}

TEST(query_eval, orderings_against_big_integers_use_their_sign_and_size) {
  expect_split("metric < 99999999999999999999N", {with_int(INT64_MAX), with_float(1e19)},
               {with_float(1e20), empty});
  expect_split("metric > -99999999999999999999N", {with_int(INT64_MIN), with_float(-1e19)},
               {with_float(-1e21)});
  expect_split("99999999999999999999N > 99999999999999999998N", {empty}, {});
  expect_split("-99999999999999999999N < -99999999999999999998N", {empty}, {});
  expect_split("-99999999999999999999N > -99999999999999999998N", {}, {empty});
}

TEST(query_eval, orderings_with_nan_are_always_false) {
  for (auto q : {"metric > 0", "metric < 0", "metric >= 0", "metric <= 0"})
    expect_split(q, {}, {with_float(nan_v)});
  for (auto q : {"metric > NaN", "metric < NaN", "metric >= NaN", "metric <= NaN"})
    expect_split(q, {}, {with_int(1), with_float(1), with_float(nan_v)});
}

TEST(query_eval, orderings_with_infinity_behave) {
  expect_split("metric < Infinity", {with_float(1e308), with_int(INT64_MAX)}, {with_float(inf_v)});
  expect_split("metric <= Infinity", {with_float(inf_v)}, {});
  expect_split("metric > -Infinity", {with_float(-1e308)}, {with_float(-inf_v)});
}

TEST(query_eval, orderings_need_numbers_on_both_sides) {
  expect_split("host > 1", {}, {with_host("5"), empty});
  expect_split("state < 1", {}, {with_state("0")});
  expect_split("1 < 2", {empty, full()}, {});
  expect_split("2 <= 2.0", {empty}, {});
  expect_split("\"a\" < 2", {}, {empty});
  expect_split("nil < 1", {}, {empty});
  expect_split("true > 0", {}, {empty});
}

TEST(query_eval, like_matches_riemann_wildcard_cases) {
  expect_split("host =~ \"%s.\"", {with_host("s."), with_host("foos.")},
               {with_host("a."), with_host("s.murf"), empty});
}

TEST(query_eval, like_is_anchored_at_both_ends) {
  expect_split("host =~ \"web\"", {with_host("web")}, {with_host("web1"), with_host("aweb")});
  expect_split("host =~ \"web%\"", {with_host("web"), with_host("web-1")}, {with_host("aweb")});
  expect_split("host =~ \"%web\"", {with_host("web"), with_host("a-web")}, {with_host("web-1")});
  expect_split("host =~ \"%web%\"", {with_host("web"), with_host("a-web-1")}, {with_host("we")});
}

TEST(query_eval, like_percent_alone_matches_every_string_even_empty) {
  expect_split("host =~ \"%\"", {with_host(""), with_host("x")}, {empty});
  expect_split("host =~ \"%%\"", {with_host(""), with_host("xy")}, {empty});
}

TEST(query_eval, like_with_an_empty_pattern_matches_only_the_empty_string) {
  expect_split("host =~ \"\"", {with_host("")}, {with_host("a"), empty});
}

TEST(query_eval, like_segments_must_appear_in_order_without_overlap) {
  expect_split("s =~ \"a%b%c\"",
               {with_attribute("s", "abc"), with_attribute("s", "aXbYc"),
                with_attribute("s", "a b c"), with_attribute("s", "abbc")},
               {with_attribute("s", "acb"), with_attribute("s", "ab"), with_attribute("s", "bc")});
  expect_split("s =~ \"a%a\"", {with_attribute("s", "aa"), with_attribute("s", "aba")},
               {with_attribute("s", "a")});
  expect_split("s =~ \"%ab%ab%\"", {with_attribute("s", "abab"), with_attribute("s", "xabyabz")},
               {with_attribute("s", "aba"), with_attribute("s", "ab")});
}

TEST(query_eval, like_treats_regex_and_sql_underscore_characters_literally) {
  expect_split("s =~ \"a.c\"", {with_attribute("s", "a.c")}, {with_attribute("s", "abc")});
  expect_split("s =~ \"a_c\"", {with_attribute("s", "a_c")}, {with_attribute("s", "abc")});
  expect_split("s =~ \"[x]%\"", {with_attribute("s", "[x]y")}, {with_attribute("s", "xy")});
  expect_split("s =~ \"a*\"", {with_attribute("s", "a*")}, {with_attribute("s", "aaa")});
  expect_split("s =~ \"\\\\d%\"", {with_attribute("s", "\\d1")}, {with_attribute("s", "1")});
}

TEST(query_eval, like_is_case_sensitive_and_spans_newlines_and_utf8) {
  expect_split("s =~ \"A%\"", {with_attribute("s", "Ab")}, {with_attribute("s", "ab")});
  expect_split("s =~ \"a%b\"", {with_attribute("s", "a\nb")}, {});
  expect_split("s =~ \"辻%\"", {with_attribute("s", "辻斬")}, {with_attribute("s", "斬辻")});
}

TEST(query_eval, like_never_matches_non_strings) {
  expect_split("metric =~ \"1%\"", {}, {with_int(1), with_float(1.5), empty});
  expect_split("\"abc\" =~ \"a%\"", {empty}, {});
  expect_split("nil =~ \"%\"", {}, {empty});
}

TEST(query_eval, like_match_handles_edge_segments_directly) {
  EXPECT_TRUE(like_match("", {""}));
  EXPECT_FALSE(like_match("a", {""}));
  EXPECT_TRUE(like_match("abc", {"", ""}));
  EXPECT_TRUE(like_match("abc", {"a", "c"}));
  EXPECT_FALSE(like_match("ac", {"a", "b", "c"}));
}

TEST(query_eval, regex_matches_riemann_regexp_cases) {
  expect_split("host ~= \"foo?[1-9]+\"", {with_host("foo19"), with_host("foo1"), with_host("fo42")},
               {with_host("abc"), with_host("foo"), with_host("fooo42"), empty});
}

TEST(query_eval, regex_finds_anywhere_unless_anchored) {
  expect_split("host ~= \"b\"", {with_host("abc"), with_host("b")}, {with_host("ac")});
  expect_split("host ~= \"^a\"", {with_host("abc")}, {with_host("bac")});
  expect_split("host ~= \"c$\"", {with_host("abc")}, {with_host("cab")});
  expect_split("host ~= \"^$\"", {with_host("")}, {with_host("x"), empty});
  expect_split("host ~= \"\"", {with_host(""), with_host("x")}, {empty});
}

TEST(query_eval, regex_supports_common_classes_and_quantifiers) {
  expect_split("s ~= \"^\\\\d{3}-\\\\w+\\\\s?$\"", {with_attribute("s", "123-ab_c")},
               {with_attribute("s", "12-ab"), with_attribute("s", "123-")});
  expect_split(
      "s ~= \"^(web|db)-[0-9]+\\\\.example\\\\.com$\"",
      {with_attribute("s", "web-1.example.com"), with_attribute("s", "db-22.example.com")},
      {with_attribute("s", "web-1xexample.com"), with_attribute("s", "cache-1.example.com")});
}

TEST(query_eval, regex_is_case_sensitive_unless_it_starts_with_the_i_flag) {
  expect_split("host ~= \"WEB\"", {with_host("WEB-1")}, {with_host("web-1")});
  expect_split("host ~= \"(?i)WEB\"", {with_host("web-1"), with_host("Web")}, {with_host("db")});
}

TEST(query_eval, regex_never_matches_non_strings) {
  expect_split("metric ~= \"1\"", {}, {with_int(1), with_float(1.0), empty});
  expect_split("\"abc\" ~= \"b\"", {empty}, {});
}

TEST(query_eval, regex_on_a_long_subject_still_answers) {
  std::string s(4096, 'a');
  s += "needle";
  expect_split("description ~= \"needle\"", {with_description(s)}, {with_description("a")});
}

TEST(query_eval, regex_search_on_a_64_kib_subject_neither_crashes_nor_crawls) {
  std::string a(64 << 10, 'a');
  for (auto q : {"description ~= \"(a|b)*c\"", "description ~= \".*b\"", "description ~= \"a*b\""})
    expect_split(q, {with_description(a + "bc")}, {with_description(a)});
  expect_split("description ~= \"^a+$\"", {with_description(a)}, {with_description(a + "b")});
}

TEST(query_eval, catastrophic_backtracking_patterns_run_in_linear_time) {
  // Java's backtracking takes 2^n steps on these, so with it this test would never end (CTest's
  // timeout fails it); RE2 answers in one pass. Nothing here is timed.
  std::string a(4096, 'a');
  for (auto q : {"description ~= \"^(a+)+$\"", "description ~= \"^(a|a)*$\"",
                 "description ~= \"^(a|aa)+$\"", "description ~= \"(.*a){20}$\""})
    expect_split(q, {with_description(a)}, {with_description(a + "!")});
}

TEST(query_eval, regex_flags_work_inline_and_anywhere) {
  expect_split("s ~= \"a(?i:B)c\"", {with_attribute("s", "abc"), with_attribute("s", "aBc")},
               {with_attribute("s", "ABC")});
  expect_split("s ~= \"(?s)a.b\"", {with_attribute("s", "a\nb")}, {with_attribute("s", "ab")});
  expect_split("s ~= \"(?m)^b$\"", {with_attribute("s", "a\nb\nc")}, {with_attribute("s", "abc")});
  expect_split("s ~= \"\\\\Aab\\\\z\"", {with_attribute("s", "ab")}, {with_attribute("s", "ab\n")});
  expect_split("s ~= \"\\\\Qa.b\\\\E\"", {with_attribute("s", "xa.by")},
               {with_attribute("s", "axb")});
}

TEST(query_eval, regex_works_on_utf8_code_points) {
  expect_split("s ~= \"^.$\"", {with_attribute("s", "\xc3\xa9"), with_attribute("s", "x")},
               {with_attribute("s", "ab")});
  expect_split("s ~= \"^\\\\p{Greek}+$\"", {with_attribute("s", "\xce\xb1\xce\xb2")},
               {with_attribute("s", "ab")});
  // Bytes that are not UTF-8 match no class and no '.', but literals around them still do.
  expect_split("s ~= \"a.b\"", {},
               {with_attribute("s",
                               "a\xff"
                               "b")});
  expect_split("s ~= \"b\"",
               {with_attribute("s",
                               "a\xff"
                               "b")},
               {});
}

TEST(query_eval, regex_top_level_alternation_and_anchors_survive_wrapping) {
  expect_split("s ~= \"x|^b\"", {with_attribute("s", "bc"), with_attribute("s", "ax")},
               {with_attribute("s", "ab")});
  expect_split("s ~= \"a$|^c\"", {with_attribute("s", "ba"), with_attribute("s", "cb")},
               {with_attribute("s", "ab"), with_attribute("s", "bc")});
}

TEST(query_eval, regex_dot_stops_at_newlines_like_java) {
  expect_split("s ~= \"a.b\"", {with_attribute("s", "a-b")}, {with_attribute("s", "a\nb")});
  expect_split("s ~= \"a[\\\\s\\\\S]b\"", {with_attribute("s", "a\nb")}, {});
}

TEST(query_eval, tagged_needs_the_exact_tag) {
  expect_split(
      "tagged \"cat\"", {with_tags({"cat", "dog"}), with_tags({"cat"})},
      {with_tags({"dog"}), with_tags({"ca"}), with_tags({"Cat"}), with_tags({"cats"}), empty});
  expect_split("tagged \"\"", {with_tags({""})}, {with_tags({"a"}), empty});
}

TEST(query_eval, null_and_not_nil_combine) {
  // Riemann's null case, with description as a string.
  auto e = [](std::optional<int64_t> t, std::optional<std::string> d) {
    event x;
    x.time_us = t;
    x.description = d;
    return x;
  };
  expect_split("time = null and description != nil",
               {e(std::nullopt, "true"), e(std::nullopt, "hey")},
               {e(2'000'000, "true"), e(std::nullopt, std::nullopt), empty});
}

TEST(query_eval, boolean_operators_combine) {
  // Riemann's bool case, with host and service as strings.
  auto e = [](std::optional<std::string> h, std::optional<std::string> s) {
    event x;
    x.host = h;
    x.service = s;
    return x;
  };
  expect_split("not ((host = \"1\" or host = \"2\") and service = \"3\")",
               {e("1", std::nullopt), e(std::nullopt, "3"), empty, e("2", "4")}, {e("2", "3")});
}

TEST(query_eval, and_needs_all_and_or_needs_any) {
  auto both = with_host("a");
  both.service = "b";
  expect_split("host = \"a\" and service = \"b\"", {both}, {with_host("a"), with_service("b")});
  expect_split("host = \"a\" or service = \"b\"", {both, with_host("a"), with_service("b")},
               {empty});
  expect_split("host and service and state", {}, {both});
  expect_split("false or false or true", {empty}, {});
  expect_split("true and true and false", {}, {empty});
}

TEST(query_eval, riemanns_fast_query_sorts_its_events) {
  auto e = [](std::optional<std::string> h, std::optional<std::string> s, dmon::metric_value m) {
    event x;
    x.host = h;
    x.state = s;
    x.metric = m;
    return x;
  };
  expect_split("host =~ \"api %\" and state = \"ok\" and metric > 0", {e("api 1", "ok", 1.2)},
               {e("other", "ok", 1.2), e("api 2", "no", 1.2), e("api 3", "ok", -0.5),
                e(std::nullopt, std::nullopt, {}), empty});
}

TEST(query_eval, evaluate_works_on_the_ast_directly) {
  auto p = parse("metric >= 1 and tagged \"x\"");
  ASSERT_TRUE(p);
  auto e = with_tags({"x"});
  e.metric = 1.0;
  EXPECT_TRUE(evaluate(p->root(), e));
  EXPECT_FALSE(evaluate(p->root(), empty));
}
