// Tests of the query lexer: every token kind, string escapes, numbers, names with operators inside.
#include "query/lexer.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace dmon::query;
using dmon::ec;

namespace {

std::vector<token> tokens_of(std::string_view text) {
  auto r = lex(text);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  if (!r)
    return {};
  return *r;
}

std::vector<token_kind> kinds_of(std::string_view text) {
  std::vector<token_kind> out;
  for (auto& t : tokens_of(text))
    out.push_back(t.kind);
  return out;
}

// Lexes text that must be exactly one token (plus end) and returns it.
token single(std::string_view text) {
  auto ts = tokens_of(text);
  EXPECT_EQ(ts.size(), 2u) << text;
  if (ts.size() != 2)
    return {};
  EXPECT_EQ(ts[1].kind, token_kind::end);
  return ts[0];
}

std::string error_of(std::string_view text) {
  auto r = lex(text);
  EXPECT_FALSE(r) << text;
  if (r)
    return "";
  EXPECT_EQ(r.error().code, ec::bad_query);
  return r.error().message;
}

std::string string_value(std::string_view text) {
  auto t = single(text);
  EXPECT_EQ(t.kind, token_kind::string) << text;
  return t.str;
}

using k = token_kind;

}  // namespace

TEST(query_lexer, empty_and_blank_text_yield_only_the_end_token) {
  EXPECT_EQ(kinds_of(""), std::vector<token_kind>{k::end});
  EXPECT_EQ(kinds_of(" \t\r\n,,, "), std::vector<token_kind>{k::end});
}

TEST(query_lexer, the_end_token_sits_after_the_last_byte) {
  auto ts = tokens_of("ab ");
  ASSERT_EQ(ts.size(), 2u);
  EXPECT_EQ(ts[1].offset, 3u);
}

TEST(query_lexer, parentheses_are_tokens_even_when_glued_to_names) {
  EXPECT_EQ(kinds_of("(host)"), (std::vector<token_kind>{k::lparen, k::name, k::rparen, k::end}));
  EXPECT_EQ(kinds_of("((("), (std::vector<token_kind>{k::lparen, k::lparen, k::lparen, k::end}));
}

TEST(query_lexer, every_keyword_has_its_own_kind) {
  EXPECT_EQ(single("not").kind, k::kw_not);
  EXPECT_EQ(single("and").kind, k::kw_and);
  EXPECT_EQ(single("or").kind, k::kw_or);
  EXPECT_EQ(single("tagged").kind, k::kw_tagged);
  EXPECT_EQ(single("true").kind, k::kw_true);
  EXPECT_EQ(single("false").kind, k::kw_false);
  EXPECT_EQ(single("nil").kind, k::kw_nil);
  EXPECT_EQ(single("null").kind, k::kw_nil);
}

TEST(query_lexer, keywords_are_case_sensitive) {
  EXPECT_EQ(single("AND").kind, k::name);
  EXPECT_EQ(single("Not").kind, k::name);
  EXPECT_EQ(single("NULL").kind, k::name);
  EXPECT_EQ(single("True").kind, k::name);
}

TEST(query_lexer, a_longer_name_beats_a_keyword_prefix) {
  for (auto word : {"notify", "android", "order", "taggedx", "trueish", "falsey", "nils",
                    "nullable", "not.x", "and-1", "or?"}) {
    auto t = single(word);
    EXPECT_EQ(t.kind, k::name) << word;
    EXPECT_EQ(t.str, word);
  }
}

TEST(query_lexer, every_operator_has_its_own_kind) {
  EXPECT_EQ(single("=").kind, k::op_eq);
  EXPECT_EQ(single("!=").kind, k::op_ne);
  EXPECT_EQ(single("<").kind, k::op_lt);
  EXPECT_EQ(single(">").kind, k::op_gt);
  EXPECT_EQ(single("<=").kind, k::op_le);
  EXPECT_EQ(single(">=").kind, k::op_ge);
  EXPECT_EQ(single("=~").kind, k::op_like);
  EXPECT_EQ(single("~=").kind, k::op_regex);
}

TEST(query_lexer, operators_between_spaces_split_a_comparison) {
  EXPECT_EQ(kinds_of("metric >= 2"),
            (std::vector<token_kind>{k::name, k::op_ge, k::long_int, k::end}));
  EXPECT_EQ(kinds_of("host =~ \"a%\""),
            (std::vector<token_kind>{k::name, k::op_like, k::string, k::end}));
}

TEST(query_lexer, operators_glued_to_names_become_part_of_the_name) {
  // '= < > ! - + * ? . &' are name characters, as in Clojure symbols.
  EXPECT_EQ(single("metric>2").str, "metric>2");
  EXPECT_EQ(single("a=b").str, "a=b");
  EXPECT_EQ(single("a!=b").str, "a!=b");
  EXPECT_EQ(single("x<=y").str, "x<=y");
  auto ts = tokens_of("host=\"a\"");
  ASSERT_EQ(ts.size(), 3u);
  EXPECT_EQ(ts[0].kind, k::name);
  EXPECT_EQ(ts[0].str, "host=");
  EXPECT_EQ(ts[1].kind, k::string);
}

TEST(query_lexer, an_operator_followed_by_name_characters_is_a_name) {
  EXPECT_EQ(single("=foo").kind, k::name);
  EXPECT_EQ(single(">2").kind, k::name);
  EXPECT_EQ(single("!=x").kind, k::name);
  EXPECT_EQ(single("==").kind, k::name);
  EXPECT_EQ(single("!").kind, k::name);
}

TEST(query_lexer, tilde_cannot_continue_a_name_so_glued_like_and_regex_fail) {
  // 'a=' is a name, then '~' can neither continue it nor start a token.
  EXPECT_EQ(error_of("a=~\"x\""),
            "parse error at column 3: unexpected character '~'; operators need spaces around "
            "them: write 'a =~ \"x\"', not 'a=~\"x\"' in 'a=~\"x\"'");
  EXPECT_NE(error_of("a~\"x\"").find("column 2: unexpected character '~'"), std::string::npos);
  EXPECT_EQ(kinds_of("a =~\"x\""),
            (std::vector<token_kind>{k::name, k::op_like, k::string, k::end}));
  EXPECT_EQ(kinds_of("=~x"), (std::vector<token_kind>{k::op_like, k::name, k::end}));
}

TEST(query_lexer, names_take_symbol_characters_and_digits_after_the_first) {
  for (auto name : {"a", "service_name", "x.y.z", "a1", "-", "+", "*", "?", "&", "a-b", ".5", "<-",
                    "λ", "辻斬", "\x0c"}) {
    auto t = single(name);
    EXPECT_EQ(t.kind, k::name) << name;
    EXPECT_EQ(t.str, name);
  }
}

TEST(query_lexer, names_may_contain_colon_separated_parts) {
  EXPECT_EQ(single("a:b").str, "a:b");
  EXPECT_EQ(single("a:b:c1").str, "a:b:c1");
  auto err = error_of("a:");
  EXPECT_NE(err.find("column 2"), std::string::npos) << err;
  EXPECT_NE(error_of("a::b").find("unexpected character ':'"), std::string::npos);
}

TEST(query_lexer, reader_characters_are_rejected_with_their_column) {
  for (std::string c : {"^", "`", "#", "@", ":", "/", "%", "[", "]", "{", "}", "~"}) {
    auto err = error_of("host = " + c);
    EXPECT_NE(err.find("parse error at column 8: unexpected character '" + c + "'"),
              std::string::npos)
        << err;
  }
}

TEST(query_lexer, whitespace_and_commas_separate_tokens) {
  EXPECT_EQ(kinds_of("a,b\tc\nd\re"),
            (std::vector<token_kind>{k::name, k::name, k::name, k::name, k::name, k::end}));
  EXPECT_EQ(kinds_of("host,=,1"),
            (std::vector<token_kind>{k::name, k::op_eq, k::long_int, k::end}));
}

TEST(query_lexer, tokens_record_offset_and_source_text) {
  auto ts = tokens_of("  host  >=  -1.5e3");
  ASSERT_EQ(ts.size(), 4u);
  EXPECT_EQ(ts[0].offset, 2u);
  EXPECT_EQ(ts[0].text, "host");
  EXPECT_EQ(ts[1].offset, 8u);
  EXPECT_EQ(ts[1].text, ">=");
  EXPECT_EQ(ts[2].offset, 12u);
  EXPECT_EQ(ts[2].text, "-1.5e3");
}

TEST(query_lexer, longs_are_signed_decimal_with_an_optional_l_suffix) {
  EXPECT_EQ(single("0").integer, 0);
  EXPECT_EQ(single("42").integer, 42);
  EXPECT_EQ(single("-17").integer, -17);
  EXPECT_EQ(single("007").integer, 7);
  auto t = single("5L");
  EXPECT_EQ(t.kind, k::long_int);
  EXPECT_EQ(t.integer, 5);
  EXPECT_EQ(single("5l").integer, 5);
  EXPECT_EQ(single("9223372036854775807").integer, INT64_MAX);
  EXPECT_EQ(single("-9223372036854775808").integer, INT64_MIN);
}

TEST(query_lexer, a_long_beyond_64_bits_is_an_error_suggesting_n) {
  auto err = error_of("metric = 9223372036854775808");
  EXPECT_EQ(err,
            "parse error at column 10: integer 9223372036854775808 does not fit in 64 bits; "
            "append N for a big integer in 'metric = 9223372036854775808'");
}

TEST(query_lexer, big_integers_that_fit_keep_their_kind_and_integer_value) {
  auto t = single("12N");
  EXPECT_EQ(t.kind, k::big_int);
  EXPECT_EQ(t.integer, 12);
  EXPECT_TRUE(t.big_digits.empty());
  EXPECT_EQ(single("-3n").integer, -3);
}

TEST(query_lexer, big_integers_beyond_64_bits_keep_canonical_digits) {
  auto t = single("-000123456789012345678901234567890N");
  EXPECT_EQ(t.kind, k::big_int);
  EXPECT_EQ(t.big_digits, "-123456789012345678901234567890");
  EXPECT_DOUBLE_EQ(t.real, -1.2345678901234568e29);
}

TEST(query_lexer, floats_need_a_fraction_or_an_exponent) {
  EXPECT_EQ(single("1.5").kind, k::floating);
  EXPECT_DOUBLE_EQ(single("1.5").real, 1.5);
  EXPECT_DOUBLE_EQ(single("-1.5").real, -1.5);
  EXPECT_DOUBLE_EQ(single("0.0").real, 0.0);
  EXPECT_DOUBLE_EQ(single("1e5").real, 1e5);
  EXPECT_DOUBLE_EQ(single("1E5").real, 1e5);
  EXPECT_DOUBLE_EQ(single("-1.2e-5").real, -1.2e-5);
  EXPECT_DOUBLE_EQ(single("2.5E10").real, 2.5e10);
}

TEST(query_lexer, a_dot_without_digits_after_it_ends_the_number) {
  EXPECT_EQ(kinds_of("1."), (std::vector<token_kind>{k::long_int, k::name, k::end}));
  EXPECT_EQ(kinds_of("1.e5"), (std::vector<token_kind>{k::long_int, k::name, k::end}));
}

TEST(query_lexer, an_exponent_takes_no_plus_sign) {
  EXPECT_EQ(kinds_of("1e+5"), (std::vector<token_kind>{k::long_int, k::name, k::end}));
}

TEST(query_lexer, infinity_and_nan_are_floats) {
  EXPECT_EQ(single("Infinity").real, INFINITY);
  EXPECT_EQ(single("-Infinity").real, -INFINITY);
  EXPECT_TRUE(std::isnan(single("NaN").real));
  EXPECT_TRUE(std::isnan(single("-NaN").real));
  EXPECT_EQ(single("Infinity").kind, k::floating);
  EXPECT_EQ(single("Infinityx").kind, k::name);
  EXPECT_EQ(single("nan").kind, k::name);
  EXPECT_EQ(single("infinity").kind, k::name);
}

TEST(query_lexer, huge_and_tiny_floats_saturate_like_java) {
  EXPECT_EQ(single("1e400").real, INFINITY);
  EXPECT_EQ(single("-1e400").real, -INFINITY);
  EXPECT_EQ(single("1e-400").real, 0.0);
  auto neg = single("-1e-400").real;
  EXPECT_EQ(neg, 0.0);
  EXPECT_TRUE(std::signbit(neg));
  EXPECT_EQ(single("0.000000000000000000000000000000000000000000000000000000000000000000000000000"
                   "00000000000000000000000000000000000000000000000000000000000000000000000000000"
                   "00000000000000000000000000000000000000000000000000000000000000000000000000000"
                   "00000000000000000000000000000000000000000000000000000000000000000000000000000"
                   "000000000000000000001")
                .real,
            0.0);
  EXPECT_EQ(single(std::string(400, '9') + ".0").real, INFINITY);
}

TEST(query_lexer, a_minus_with_digits_is_a_number_but_with_letters_a_name) {
  EXPECT_EQ(single("-1").kind, k::long_int);
  EXPECT_EQ(single("-1.5").kind, k::floating);
  EXPECT_EQ(single("-1x").kind, k::name);
  EXPECT_EQ(single("-1.5x").kind, k::name);
  EXPECT_EQ(single("-x").kind, k::name);
  EXPECT_EQ(single("+1").kind, k::name);
}

TEST(query_lexer, digits_followed_by_letters_split_into_number_and_name) {
  EXPECT_EQ(kinds_of("12abc"), (std::vector<token_kind>{k::long_int, k::name, k::end}));
  EXPECT_EQ(kinds_of("1.5x"), (std::vector<token_kind>{k::floating, k::name, k::end}));
}

TEST(query_lexer, hexadecimal_numbers_are_rejected) {
  EXPECT_EQ(error_of("metric = 0x1F"),
            "parse error at column 10: hexadecimal number 0x1F is not supported; write it in "
            "decimal in 'metric = 0x1F'");
}

TEST(query_lexer, character_literals_are_rejected) {
  for (auto text : {"\\a", "\\newline", "\\u00e9", "\\("}) {
    auto err = error_of(text);
    EXPECT_NE(err.find("character literals"), std::string::npos) << err;
  }
  EXPECT_EQ(single("\\abc").kind, k::name) << "a longer name beats a character literal";
}

TEST(query_lexer, strings_hold_raw_text_between_quotes) {
  EXPECT_EQ(string_value("\"\""), "");
  EXPECT_EQ(string_value("\"foo\""), "foo");
  EXPECT_EQ(string_value("\"a b, c (d)\""), "a b, c (d)");
  EXPECT_EQ(string_value("\"line\nbreak\""), "line\nbreak");
  EXPECT_EQ(string_value("\"辻斬\""), "辻斬");
}

TEST(query_lexer, strings_decode_edn_escapes) {
  EXPECT_EQ(string_value(R"("\b\t\n\f\r")"), "\b\t\n\f\r");
  EXPECT_EQ(string_value(R"(" \" \\ ")"), " \" \\ ");
  EXPECT_EQ(string_value(R"("a\\")"), "a\\");
}

TEST(query_lexer, strings_decode_unicode_escapes_to_utf8) {
  EXPECT_EQ(string_value(R"("\u0041")"), "A");
  EXPECT_EQ(string_value(R"("\u00e9")"), "é");
  EXPECT_EQ(string_value(R"("\u8FBB")"), "辻");
  EXPECT_EQ(string_value(R"("\uD83D\uDE00")"), "\xF0\x9F\x98\x80");
}

TEST(query_lexer, strings_decode_octal_escapes_up_to_377) {
  EXPECT_EQ(string_value(R"("\0")"), std::string(1, '\0'));
  EXPECT_EQ(string_value(R"("\101")"), "A");
  EXPECT_EQ(string_value(R"("\1012")"), "A2");
  EXPECT_EQ(string_value(R"("\377")"), "ÿ");
  EXPECT_NE(error_of(R"("\400")").find("octal escape"), std::string::npos);
}

TEST(query_lexer, bad_escapes_are_errors_at_the_backslash) {
  EXPECT_EQ(
      error_of(R"(x = "ab\q")"),
      R"(parse error at column 8: unsupported escape '\q' in string; use \" \\ \b \t \n \f \r or \uXXXX in 'x = "ab\q"')");
  EXPECT_NE(error_of(R"("\u12")").find("four hex digits"), std::string::npos);
  EXPECT_NE(error_of(R"("\uzzzz")").find("four hex digits"), std::string::npos);
  EXPECT_NE(error_of(R"("\uD83D")").find("high surrogate"), std::string::npos);
  EXPECT_NE(error_of(R"("\uDE00")").find("low surrogate"), std::string::npos);
  EXPECT_NE(error_of(R"("\8")").find("unsupported escape"), std::string::npos);
}

TEST(query_lexer, an_unterminated_string_is_an_error_at_its_opening_quote) {
  EXPECT_EQ(error_of("host = \"abc"),
            "parse error at column 8: unterminated string; add a closing '\"' in 'host = \"abc'");
  EXPECT_NE(error_of("\"abc\\").find("unterminated"), std::string::npos);
  EXPECT_NE(error_of("\"abc\\\"").find("unterminated"), std::string::npos);
}

TEST(query_lexer, columns_count_code_points_not_bytes) {
  EXPECT_EQ(column_of("辻斬 x", 7), 4u);
  EXPECT_NE(error_of("\"辻\" #").find("column 5"), std::string::npos);
}

TEST(query_lexer, describe_names_every_kind) {
  for (int i = 0; i <= static_cast<int>(token_kind::end); ++i)
    EXPECT_STRNE(describe(static_cast<token_kind>(i)), "?");
}

TEST(query_lexer, quotes_cannot_appear_in_names) {
  EXPECT_NE(error_of("a'").find("column 2: unexpected character '''"), std::string::npos);
}
