// Tests of the query parser: Riemann's AST cases, precedence, associativity, every error path.
#include "query/parser.hpp"

#include <gtest/gtest.h>

using namespace dmon::query;
using dmon::ec;

namespace {

// Returns Riemann's s-expression AST for `text`, or "error: <message>".
std::string sexpr(std::string_view text) {
  auto r = parse_ast(text);
  if (!r)
    return "error: " + r.error().message;
  return to_sexpr(**r);
}

std::string canonical(std::string_view text) {
  auto r = parse_ast(text);
  if (!r)
    return "error: " + r.error().message;
  return to_query_string(**r);
}

std::string error_of(std::string_view text) {
  auto r = parse_ast(text);
  EXPECT_FALSE(r) << text << " parsed as " << (r ? to_sexpr(**r) : "");
  if (r)
    return "";
  EXPECT_EQ(r.error().code, ec::bad_query);
  return r.error().message;
}

}  // namespace

TEST(query_parser, core_fields_compare_with_literals) {
  EXPECT_EQ(sexpr("state = true"), "(= :state true)");
  EXPECT_EQ(sexpr("host = true"), "(= :host true)");
  EXPECT_EQ(sexpr("service = true"), "(= :service true)");
  EXPECT_EQ(sexpr("description = true"), "(= :description true)");
  EXPECT_EQ(sexpr("metric_f = true"), "(= :metric_f true)");
  EXPECT_EQ(sexpr("metric = true"), "(= :metric true)");
  EXPECT_EQ(sexpr("time = true"), "(= :time true)");
  EXPECT_EQ(sexpr("ttl = 64"), "(= :ttl 64)");
}

TEST(query_parser, bare_literals_are_predicates) {
  EXPECT_EQ(sexpr("true"), "true");
  EXPECT_EQ(sexpr("false"), "false");
  EXPECT_EQ(sexpr("nil"), "nil");
  EXPECT_EQ(sexpr("null"), "nil");
  EXPECT_EQ(sexpr("5"), "5");
  EXPECT_EQ(sexpr("\"s\""), "\"s\"");
  EXPECT_EQ(sexpr("1.5"), "1.5");
}

TEST(query_parser, a_bare_field_is_a_predicate) {
  EXPECT_EQ(sexpr("host"), ":host");
  EXPECT_EQ(sexpr("metric>2"), ":metric>2");
}

TEST(query_parser, integers_keep_their_sign) {
  EXPECT_EQ(sexpr("state = 0"), "(= :state 0)");
  EXPECT_EQ(sexpr("state = 1"), "(= :state 1)");
  EXPECT_EQ(sexpr("state = -1"), "(= :state -1)");
  EXPECT_EQ(sexpr("state = 7L"), "(= :state 7)");
}

TEST(query_parser, big_integers_that_fit_become_longs) {
  EXPECT_EQ(sexpr("state = 12N"), "(= :state 12)");
  EXPECT_EQ(sexpr("state = 99999999999999999999N"), "(= :state 99999999999999999999N)");
  EXPECT_EQ(sexpr("metric > -99999999999999999999N"), "(> :metric -99999999999999999999N)");
}

TEST(query_parser, floats_print_as_floats) {
  EXPECT_EQ(sexpr("state = 0.0"), "(= :state 0.0)");
  EXPECT_EQ(sexpr("state = 1.5"), "(= :state 1.5)");
  EXPECT_EQ(sexpr("state = -1.5"), "(= :state -1.5)");
  EXPECT_EQ(sexpr("state = 1e5"), "(= :state 1e5)");
  EXPECT_EQ(sexpr("state = 1E5"), "(= :state 1e5)");
  EXPECT_EQ(sexpr("state = -1.2e-5"), "(= :state -1.2e-5)");
  EXPECT_EQ(sexpr("state = 1e20"), "(= :state 1e20)");
  EXPECT_EQ(sexpr("state = Infinity"), "(= :state Infinity)");
  EXPECT_EQ(sexpr("state = -Infinity"), "(= :state -Infinity)");
  EXPECT_EQ(sexpr("state = NaN"), "(= :state NaN)");
}

TEST(query_parser, strings_are_decoded_and_printed_escaped) {
  EXPECT_EQ(sexpr(R"(state = "")"), R"((= :state ""))");
  EXPECT_EQ(sexpr(R"(state = "foo")"), R"((= :state "foo"))");
  EXPECT_EQ(sexpr(R"(state = "\b\t\n\f\r")"), R"((= :state "\b\t\n\f\r"))");
  EXPECT_EQ(sexpr(R"(state = " \" \\ ")"), R"((= :state " \" \\ "))");
  EXPECT_EQ(sexpr(R"(state = "辻斬")"), R"((= :state "辻斬"))");
  EXPECT_EQ(sexpr(R"(state = "\u0001")"), R"((= :state "\u0001"))");
}

TEST(query_parser, every_comparison_operator_builds_its_node) {
  EXPECT_EQ(sexpr("state = 2"), "(= :state 2)");
  EXPECT_EQ(sexpr("state > 2"), "(> :state 2)");
  EXPECT_EQ(sexpr("state < 2"), "(< :state 2)");
  EXPECT_EQ(sexpr("state >= 2"), "(>= :state 2)");
  EXPECT_EQ(sexpr("state <= 2"), "(<= :state 2)");
  EXPECT_EQ(sexpr("state != 2"), "(not= :state 2)");
  EXPECT_EQ(sexpr(R"(state =~ "%foo%")"), R"((:like "%foo%" :state))");
  EXPECT_EQ(sexpr(R"(state ~= "[a-z]+")"), R"((:regex "[a-z]+" :state))");
  EXPECT_EQ(sexpr(R"(tagged "cat")"), R"((:tagged "cat"))");
}

TEST(query_parser, equality_takes_any_value_on_either_side) {
  EXPECT_EQ(sexpr("1 = metric"), "(= 1 :metric)");
  EXPECT_EQ(sexpr("host = service"), "(= :host :service)");
  EXPECT_EQ(sexpr("nil != nil"), "(not= nil nil)");
  EXPECT_EQ(sexpr(R"("a" = "a")"), R"((= "a" "a"))");
}

TEST(query_parser, ordering_and_matching_take_any_value_on_the_left) {
  EXPECT_EQ(sexpr("1 < 2"), "(< 1 2)");
  EXPECT_EQ(sexpr(R"("abc" =~ "a%")"), R"((:like "a%" "abc"))");
  EXPECT_EQ(sexpr(R"(nil ~= "x")"), R"((:regex "x" nil))");
}

TEST(query_parser, attribute_names_are_fields) {
  EXPECT_EQ(sexpr("paws = 4"), "(= :paws 4)");
  EXPECT_EQ(sexpr("a:b = \"x\""), "(= :a:b \"x\")");
}

TEST(query_parser, boolean_operators_build_nodes) {
  EXPECT_EQ(sexpr("not host = 1"), "(not (= :host 1))");
  EXPECT_EQ(sexpr("host = 1 and state = 2"), "(and (= :host 1) (= :state 2))");
  EXPECT_EQ(sexpr("host = 1 or state = 2"), "(or (= :host 1) (= :state 2))");
}

TEST(query_parser, parentheses_group_without_leaving_a_trace) {
  EXPECT_EQ(sexpr("(host = 1)"), "(= :host 1)");
  EXPECT_EQ(sexpr("((host = 1))"), "(= :host 1)");
}

TEST(query_parser, not_binds_tighter_than_and) {
  EXPECT_EQ(sexpr("not host = 1 and host = 2"), "(and (not (= :host 1)) (= :host 2))");
}

TEST(query_parser, and_binds_tighter_than_or) {
  EXPECT_EQ(sexpr("not host = 1 or host = 2 and host = 3"),
            "(or (not (= :host 1)) (and (= :host 2) (= :host 3)))");
  EXPECT_EQ(sexpr("a and b or c and d"), "(or (and :a :b) (and :c :d))");
}

TEST(query_parser, parentheses_override_precedence) {
  EXPECT_EQ(sexpr("not ((host = 1 or host = 2) and host = 3)"),
            "(not (and (or (= :host 1) (= :host 2)) (= :host 3)))");
  EXPECT_EQ(sexpr("a and (b or c)"), "(and :a (or :b :c))");
}

TEST(query_parser, and_and_or_associate_to_the_left) {
  EXPECT_EQ(sexpr("a and b and c"), "(and (and :a :b) :c)");
  EXPECT_EQ(sexpr("a or b or c or d"), "(or (or (or :a :b) :c) :d)");
}

TEST(query_parser, explicit_right_grouping_is_kept) {
  EXPECT_EQ(sexpr("a and (b and c)"), "(and :a (and :b :c))");
  EXPECT_EQ(sexpr("a or (b or c)"), "(or :a (or :b :c))");
}

TEST(query_parser, not_may_repeat) {
  EXPECT_EQ(sexpr("not not a"), "(not (not :a))");
  EXPECT_EQ(sexpr("not (not a)"), "(not (not :a))");
}

TEST(query_parser, commas_and_newlines_are_whitespace) {
  EXPECT_EQ(sexpr("host = 1,\nand, state = 2"), "(and (= :host 1) (= :state 2))");
}

TEST(query_parser, long_generated_chains_parse_flat) {
  std::string q = "host = \"h0\"";
  for (int i = 1; i < 20000; ++i)
    q += " or host = \"h" + std::to_string(i) + "\"";
  auto r = parse_ast(q);
  ASSERT_TRUE(r);
  auto* o = std::get_if<or_node>(&(*r)->v);
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->children.size(), 20000u);
}

TEST(query_parser, canonical_text_uses_single_spaces_and_needed_parentheses_only) {
  EXPECT_EQ(canonical("  host=\t\"a\" "),
            "error: parse error at column 9: expected 'and', 'or' or "
            "the end of the query but found the string \"a\" "
            "(operators need spaces around them: 'host=' reads as "
            "one field name) in '  host=\t\"a\" '");
  EXPECT_EQ(canonical("((host = \"a\"))"), "host = \"a\"");
  EXPECT_EQ(canonical("(a and b) or c"), "a and b or c");
  EXPECT_EQ(canonical("a and (b or c)"), "a and (b or c)");
  EXPECT_EQ(canonical("(a or b) or c"), "(a or b) or c");
  EXPECT_EQ(canonical("not (a and b)"), "not (a and b)");
  EXPECT_EQ(canonical("not (not a)"), "not not a");
  EXPECT_EQ(canonical("not (x = 1)"), "not x = 1");
  EXPECT_EQ(canonical("metric>=1e3,and,tagged \"x\""), "metric>=1e3 and tagged \"x\"")
      << "a glued comparison is a valid bare field name; it is nil and never matches";
  EXPECT_EQ(canonical("metric >= 1e3,and,tagged \"x\""), "metric >= 1000.0 and tagged \"x\"");
  EXPECT_EQ(canonical("x =~ \"a\\\"%\" or y ~= \"\\\\d\""), "x =~ \"a\\\"%\" or y ~= \"\\\\d\"");
  EXPECT_EQ(canonical("x = 5N or y = 1e400 or z = -0.0"), "x = 5 or y = Infinity or z = -0.0");
}

TEST(query_parser, canonical_text_parses_back_to_the_same_tree) {
  for (auto q : {"not ((host = 1 or host = 2) and host = 3)", "a and (b and c) or not d",
                 "(a or b) and (c or d)", "x = \"\\u0007\\n\" and y != nil",
                 "m > -1.5e-300 or m <= 99999999999999999999N", "tagged \"a b\" or not not q",
                 "t = -Infinity or t != NaN", "x ~= \"(?i)^web\""}) {
    auto first = canonical(q);
    EXPECT_EQ(canonical(first), first) << q;
    EXPECT_EQ(sexpr(first), sexpr(q)) << q;
  }
}

TEST(query_parser, an_empty_query_expects_a_predicate) {
  EXPECT_EQ(error_of(""),
            "parse error at column 1: expected a field, a value, 'not', 'tagged' or '(' to start "
            "a predicate but found the end of the query in ''");
  EXPECT_NE(error_of("  ,  ").find("column 6"), std::string::npos);
}

TEST(query_parser, an_operator_without_a_left_side_is_an_error) {
  EXPECT_EQ(error_of("= 1"),
            "parse error at column 1: expected a field, a value, 'not', 'tagged' or '(' to start "
            "a predicate but found '=' in '= 1'");
  EXPECT_NE(error_of("host = 1 and and").find("column 14"), std::string::npos);
  EXPECT_NE(error_of("not").find("but found the end of the query"), std::string::npos);
  EXPECT_NE(error_of("a or").find("column 5"), std::string::npos);
}

TEST(query_parser, equality_needs_a_value_on_the_right) {
  EXPECT_EQ(error_of("host ="),
            "parse error at column 7: expected a field or a value after '=' but found the end of "
            "the query in 'host ='");
  EXPECT_EQ(error_of("host != (1)"),
            "parse error at column 9: expected a field or a value after '!=' but found '(' in "
            "'host != (1)'");
  EXPECT_NE(error_of("host = and").find("found 'and'"), std::string::npos);
}

TEST(query_parser, ordering_needs_a_number_on_the_right) {
  EXPECT_EQ(error_of("metric > \"x\""),
            "parse error at column 10: expected a number after '>' but found the string \"x\" in "
            "'metric > \"x\"'");
  EXPECT_NE(error_of("metric < other")
                .find("expected a number after '<' but found the field name 'other'"),
            std::string::npos);
  EXPECT_NE(error_of("metric <= nil").find("expected a number after '<=' but found nil"),
            std::string::npos);
  EXPECT_NE(error_of("metric >= true").find("expected a number after '>=' but found true"),
            std::string::npos);
}

TEST(query_parser, a_glued_sign_makes_a_name_and_the_error_says_so) {
  EXPECT_EQ(error_of("metric >2"),
            "parse error at column 8: expected 'and', 'or' or the end of the query but found the "
            "field name '>2' (operators need spaces around them: '>2' reads as one field name) "
            "in 'metric >2'");
  EXPECT_NE(error_of("metric > +2").find("found the field name '+2'"), std::string::npos);
}

TEST(query_parser, like_and_regex_need_a_string_pattern) {
  EXPECT_EQ(error_of("host =~ 5"),
            "parse error at column 9: expected a string pattern after '=~' but found the number 5 "
            "in 'host =~ 5'");
  EXPECT_EQ(error_of("host ~= web"),
            "parse error at column 9: expected a string pattern after '~=' but found the field "
            "name 'web' in 'host ~= web'");
}

TEST(query_parser, an_invalid_regex_is_an_error_at_the_pattern_with_re2s_message) {
  EXPECT_EQ(error_of("host ~= \"(unclosed\""),
            "parse error at column 9: invalid regular expression \"(unclosed\": missing ): "
            "(unclosed; patterns use RE2 syntax in 'host ~= \"(unclosed\"'");
  EXPECT_NE(error_of("x ~= \"[a-\"").find("invalid regular expression \"[a-\": missing ]"),
            std::string::npos);
  EXPECT_NE(error_of("x ~= \"a{2,1}\"").find("invalid repetition size: {2,1}"), std::string::npos);
  EXPECT_NE(error_of("x ~= \")(\"").find("unexpected ): )("), std::string::npos);
}

TEST(query_parser, java_constructs_that_need_backtracking_are_refused_with_a_reason) {
  EXPECT_NE(error_of("x ~= \"(?<name>a)\"").find("a named group is written (?P<name>...)"),
            std::string::npos);
  EXPECT_NE(error_of("x ~= \"(?<=a)b\"").find("lookbehind is not supported"), std::string::npos);
  EXPECT_NE(error_of("x ~= \"a(?=b)\"").find("lookahead is not supported"), std::string::npos);
  EXPECT_NE(error_of("x ~= \"a(?!b)\"").find("lookahead is not supported"), std::string::npos);
  EXPECT_NE(error_of("x ~= \"(?>a)\"").find("atomic groups are not supported"), std::string::npos);
  EXPECT_NE(error_of("x ~= \"(?x)a\"").find("invalid perl operator: (?x"), std::string::npos);
}

TEST(query_parser, java_escapes_re2_lacks_are_refused_not_misread) {
  for (auto p : {"a\\\\Z", "\\\\h", "[\\\\p]", "\\\\G", "\\\\R", "\\\\cJ"})
    EXPECT_NE(error_of(std::string("x ~= \"") + p + "\"").find("invalid "), std::string::npos) << p;
  EXPECT_NE(error_of("x ~= \"\\\\u0041\"").find("invalid escape sequence: \\u (write the"),
            std::string::npos);
}

TEST(query_parser, java_class_intersection_is_refused_not_read_as_literals) {
  EXPECT_EQ(error_of("x ~= \"[a-z&&[^c]]\""),
            "parse error at column 6: regular expression \"[a-z&&[^c]]\" uses Java's class "
            "intersection '&&', which RE2 would read as literal characters; list the class "
            "members instead in 'x ~= \"[a-z&&[^c]]\"'");
  for (auto p : {"a&&b", "[&]&", "\\\\[&&]", "[]]&&", "\\\\Q[&&]\\\\E", "\\\\Q[&&"})
    EXPECT_EQ(sexpr(std::string("x ~= \"") + p + "\"").rfind("(:regex", 0), 0u) << p;
}

TEST(query_parser, escapes_java_and_re2_share_are_accepted) {
  for (auto p :
       {"\\\\d\\\\D\\\\w\\\\W\\\\s\\\\S\\\\b\\\\B", "\\\\f\\\\n\\\\r\\\\t\\\\v", "\\\\x41\\\\x{41}",
        "\\\\.\\\\*\\\\+\\\\?\\\\(\\\\)\\\\[\\\\]\\\\{\\\\}\\\\|\\\\^\\\\$\\\\\\\\", "a\\\\++",
        "\\\\Aweb", "a\\\\z", "\\\\Qa.b\\\\E", "\\\\pL\\\\p{Lu}", "(?P<n>a)", "(?s)a(?m)b(?U)c"})
    EXPECT_EQ(sexpr(std::string("x ~= \"") + p + "\"").rfind("(:regex", 0), 0u) << p;
}

TEST(query_parser, possessive_quantifiers_are_refused) {
  for (auto p : {"a++", "a*+", "a?+", "a{2}+"})
    EXPECT_NE(error_of(std::string("x ~= \"") + p + "\"").find("possessive quantifiers are not"),
              std::string::npos)
        << p;
  EXPECT_EQ(sexpr("x ~= \"[*+]+\""), "(:regex \"[*+]+\" :x)") << "inside a class, + is literal";
}

TEST(query_parser, back_references_are_refused_because_they_need_backtracking) {
  EXPECT_EQ(error_of("x ~= \"(a)\\\\1\""),
            "parse error at column 6: invalid regular expression \"(a)\\\\1\": invalid escape "
            "sequence: \\1 (back-references need backtracking, which RE2 does not do so that no "
            "query can hang the node); patterns use RE2 syntax in 'x ~= \"(a)\\\\1\"'");
}

TEST(query_parser, a_pattern_too_big_for_re2s_memory_budget_is_an_error) {
  EXPECT_NE(error_of("x ~= \"((((a{100}){100}){100}){100})\"").find("invalid regular expression"),
            std::string::npos);
  EXPECT_EQ(error_of("x ~= \"\\\\pL{1000}\""),
            "parse error at column 6: invalid regular expression \"\\\\pL{1000}\": pattern too "
            "large - compile failed; patterns use RE2 syntax in 'x ~= \"\\\\pL{1000}\"'");
}

TEST(query_parser, inline_flags_are_accepted_anywhere) {
  EXPECT_EQ(sexpr("x ~= \"(?i)web\""), "(:regex \"(?i)web\" :x)");
  EXPECT_EQ(sexpr("x ~= \"a(?i:b)c\""), "(:regex \"a(?i:b)c\" :x)");
}

TEST(query_parser, tagged_needs_a_string) {
  EXPECT_EQ(error_of("tagged cat"),
            "parse error at column 8: expected a string after 'tagged' but found the field name "
            "'cat' in 'tagged cat'");
  EXPECT_NE(error_of("tagged").find("but found the end of the query"), std::string::npos);
  EXPECT_NE(error_of("tagged = \"x\"").find("expected a string after 'tagged' but found '='"),
            std::string::npos)
      << "keywords cannot be field names";
}

TEST(query_parser, a_missing_close_parenthesis_points_at_the_open_one) {
  EXPECT_EQ(error_of("(host = 1 or (a"),
            "parse error at column 16: expected 'and', 'or' or ')' to close the '(' at column 14 "
            "but found the end of the query in '(host = 1 or (a'");
}

TEST(query_parser, an_extra_close_parenthesis_is_unbalanced) {
  EXPECT_EQ(error_of("host = 1)"),
            "parse error at column 9: unbalanced ')': no '(' is open here in 'host = 1)'");
  EXPECT_NE(error_of("()").find("column 2: expected a field"), std::string::npos);
}

TEST(query_parser, two_predicates_without_a_connective_are_an_error) {
  EXPECT_EQ(error_of("host = 1 state = 2"),
            "parse error at column 10: expected 'and', 'or' or the end of the query but found the "
            "field name 'state' in 'host = 1 state = 2'");
  EXPECT_NE(error_of("metric = 12abc").find("found the field name 'abc'"), std::string::npos);
  EXPECT_NE(error_of("a = 1 = 2").find("column 7: expected 'and', 'or'"), std::string::npos)
      << "comparisons do not chain";
}

TEST(query_parser, lexer_errors_come_through_unchanged) {
  EXPECT_EQ(error_of("host = #"),
            "parse error at column 8: unexpected character '#'; field names cannot contain ^ ` ' "
            "# ~ @ : / % [ ] { } in 'host = #'");
}

TEST(query_parser, nesting_beyond_the_limit_is_refused) {
  std::string ok(max_nesting, '(');
  ok += "a" + std::string(max_nesting, ')');
  EXPECT_EQ(sexpr(ok), ":a");
  std::string deep(max_nesting + 1, '(');
  deep += "a" + std::string(max_nesting + 1, ')');
  EXPECT_NE(error_of(deep).find("deeper than 256 levels"), std::string::npos);
  std::string nots;
  for (size_t i = 0; i <= max_nesting; ++i)
    nots += "not ";
  EXPECT_NE(error_of(nots + "a").find("deeper than 256 levels"), std::string::npos);
}
