// Query lexer: maximal munch over Riemann's lexer rules, ANTLR tie-breaking.
#include "query/lexer.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

namespace dmon::query {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// SYMBOL_HEAD: anything but digits, reader macros, brackets and whitespace.
// Bytes >= 0x80 always qualify, so working on UTF-8 bytes equals working on
// code points.
bool is_name_head(char c) {
  if (is_digit(c))
    return false;
  switch (c) {
    case '^':
    case '`':
    case '\'':
    case '"':
    case '#':
    case '~':
    case '@':
    case ':':
    case '/':
    case '%':
    case '(':
    case ')':
    case '[':
    case ']':
    case '{':
    case '}':
    case ' ':
    case '\n':
    case '\r':
    case '\t':
    case ',':
      return false;
    default:
      return true;
  }
}

bool is_name_rest(char c) {
  return is_name_head(c) || is_digit(c) || c == '.';
}

// The WS rule: only these five are skipped; other control characters are name
// characters, as in the grammar.
bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == ',';
}

bool starts_with(std::string_view s, size_t i, std::string_view prefix) {
  return s.substr(i, prefix.size()) == prefix;
}

char at(std::string_view s, size_t i) {
  return i < s.size() ? s[i] : '\0';
}

// NAME: SYMBOL_HEAD SYMBOL_REST* (':' SYMBOL_REST+)*
size_t match_name(std::string_view s, size_t i) {
  if (i >= s.size() || !is_name_head(s[i]))
    return 0;
  size_t j = i + 1;
  for (;;) {
    while (j < s.size() && is_name_rest(s[j]))
      ++j;
    if (at(s, j) == ':' && j + 1 < s.size() && is_name_rest(s[j + 1]))
      ++j;
    else
      break;
  }
  return j - i;
}

struct number_match {
  token_kind kind = token_kind::end;
  size_t len = 0;
  bool hex = false;
};

// FLOAT, HEX, LONG and BIGN; the longest wins, FLOAT first on ties.
number_match match_number(std::string_view s, size_t i) {
  size_t j = i;
  if (at(s, j) == '-')
    ++j;
  if (starts_with(s, j, "Infinity"))
    return {token_kind::floating, j + 8 - i};
  if (starts_with(s, j, "NaN"))
    return {token_kind::floating, j + 3 - i};
  size_t k = j;
  while (is_digit(at(s, k)))
    ++k;
  if (k == j)
    return {};
  number_match best;
  auto offer = [&](token_kind kind, size_t end, bool hex = false) {
    if (end - i > best.len)
      best = {kind, end - i, hex};
  };
  size_t m = k;
  bool fractional = false;
  if (at(s, m) == '.' && is_digit(at(s, m + 1))) {
    m += 2;
    while (is_digit(at(s, m)))
      ++m;
    fractional = true;
  }
  bool exponent = false;
  if (char e = at(s, m); e == 'e' || e == 'E') {
    size_t p = m + 1;
    if (at(s, p) == '-')
      ++p;
    if (is_digit(at(s, p))) {
      while (is_digit(at(s, p)))
        ++p;
      m = p;
      exponent = true;
    }
  }
  if (fractional || exponent)
    offer(token_kind::floating, m);
  // HEX has no sign in the grammar.
  if (j == i && at(s, i) == '0' && (at(s, i + 1) == 'x' || at(s, i + 1) == 'X') &&
      is_hex(at(s, i + 2))) {
    size_t h = i + 2;
    while (is_hex(at(s, h)))
      ++h;
    offer(token_kind::long_int, h, true);
  }
  char suffix = at(s, k);
  offer(token_kind::long_int, k + (suffix == 'l' || suffix == 'L' ? 1 : 0));
  if (suffix == 'n' || suffix == 'N')
    offer(token_kind::big_int, k + 1);
  return best;
}

// CHAR_U, CHAR_NAMED and CHAR_ANY: Clojure character literals, which the
// grammar lexes but no parser rule accepts.
size_t match_char_literal(std::string_view s, size_t i) {
  if (at(s, i) != '\\' || i + 1 >= s.size())
    return 0;
  static constexpr std::string_view named[] = {"newline", "return",   "space",
                                               "tab",     "formfeed", "backspace"};
  for (auto n : named)
    if (starts_with(s, i + 1, n))
      return 1 + n.size();
  char u = at(s, i + 2);
  if (at(s, i + 1) == 'u' && (is_digit(u) || (u >= 'D' && u <= 'F') || (u >= 'd' && u <= 'f')) &&
      is_hex(at(s, i + 3)) && is_hex(at(s, i + 4)) && is_hex(at(s, i + 5)))
    return 6;
  return 2;
}

struct op_match {
  token_kind kind = token_kind::end;
  size_t len = 0;
};

op_match match_operator(std::string_view s, size_t i) {
  char c = at(s, i);
  char d = at(s, i + 1);
  switch (c) {
    case '=':
      return d == '~' ? op_match{token_kind::op_like, 2} : op_match{token_kind::op_eq, 1};
    case '!':
      return d == '=' ? op_match{token_kind::op_ne, 2} : op_match{};
    case '<':
      return d == '=' ? op_match{token_kind::op_le, 2} : op_match{token_kind::op_lt, 1};
    case '>':
      return d == '=' ? op_match{token_kind::op_ge, 2} : op_match{token_kind::op_gt, 1};
    case '~':
      return d == '=' ? op_match{token_kind::op_regex, 2} : op_match{};
    default:
      return {};
  }
}

token_kind keyword_kind(std::string_view word) {
  static constexpr std::pair<std::string_view, token_kind> keywords[] = {
      {"not", token_kind::kw_not},   {"and", token_kind::kw_and},
      {"or", token_kind::kw_or},     {"tagged", token_kind::kw_tagged},
      {"true", token_kind::kw_true}, {"false", token_kind::kw_false},
      {"nil", token_kind::kw_nil},   {"null", token_kind::kw_nil},
  };
  for (auto& [k, kind] : keywords)
    if (k == word)
      return kind;
  return token_kind::name;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Reads exactly four hex digits at s[i..]; returns -1 if they are not there.
int64_t read_hex4(std::string_view s, size_t i) {
  if (i + 4 > s.size())
    return -1;
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data() + i, s.data() + i + 4, v, 16);
  if (ec != std::errc{} || p != s.data() + i + 4)
    return -1;
  return v;
}

// Parses a decimal float the way Java's Double.parseDouble does: too large
// becomes infinity, too small becomes zero. std::from_chars is
// locale-independent but reports both as out of range, so decide which here.
double parse_double(std::string_view s) {
  double d = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec != std::errc::result_out_of_range)
    return d;
  bool neg = !s.empty() && s[0] == '-';
  std::string_view body = neg ? s.substr(1) : s;
  auto e = body.find_first_of("eE");
  std::string_view mantissa = body.substr(0, e);
  int64_t exp = 0;
  if (e != std::string_view::npos) {
    auto digits = body.substr(e + 1);
    if (std::from_chars(digits.data(), digits.data() + digits.size(), exp).ec != std::errc{})
      exp = digits.starts_with('-') ? -1'000'000 : 1'000'000;
  }
  auto dot = mantissa.find('.');
  std::string_view ip = mantissa.substr(0, dot);
  std::string_view fp = dot == std::string_view::npos ? "" : mantissa.substr(dot + 1);
  auto first = ip.find_first_not_of('0');
  // Decimal magnitude: where the first significant digit sits.
  int64_t magnitude = first != std::string_view::npos
                          ? static_cast<int64_t>(ip.size() - first)
                          : -static_cast<int64_t>(std::min(fp.find_first_not_of('0'), fp.size()));
  double inf = std::numeric_limits<double>::infinity();
  if (magnitude + exp > 0)
    return neg ? -inf : inf;
  return neg ? -0.0 : 0.0;
}

class lexer {
 public:
  explicit lexer(std::string_view text) : text_(text) {}

  result<std::vector<token>> run() {
    std::vector<token> out;
    for (;;) {
      while (pos_ < text_.size() && is_space(text_[pos_]))
        ++pos_;
      if (pos_ >= text_.size())
        break;
      token t;
      if (auto err = next(t))
        return std::move(*err);
      out.push_back(std::move(t));
    }
    token end;
    end.offset = text_.size();
    out.push_back(std::move(end));
    return out;
  }

 private:
  std::optional<error> fail(size_t offset, std::string_view what) {
    return make_parse_error(text_, offset, what);
  }

  std::optional<error> next(token& t) {
    size_t i = pos_;
    t.offset = i;
    char c = text_[i];
    if (c == '"')
      return lex_string(t);
    if (c == '(' || c == ')') {
      t.kind = c == '(' ? token_kind::lparen : token_kind::rparen;
      return finish(t, 1);
    }
    size_t name_len = match_name(text_, i);
    auto op = match_operator(text_, i);
    auto num = match_number(text_, i);
    size_t char_len = match_char_literal(text_, i);
    // ANTLR picks the longest match; on a tie the rule defined first wins,
    // and every rule is defined before NAME.
    if (op.len > 0 && op.len >= name_len) {
      t.kind = op.kind;
      return finish(t, op.len);
    }
    if (num.len > 0 && num.len >= name_len)
      return lex_number(t, num);
    if (char_len > 0 && char_len >= name_len)
      return fail(i, "character literals such as '" + std::string(text_.substr(i, char_len)) +
                         "' are not values; write a string in double quotes");
    if (name_len == 0) {
      // `host=~"a"` lexes `host=` as a name and then stops at the '~'.
      if (c == '~' && i > 0 && is_name_rest(text_[i - 1]))
        return fail(i,
                    "unexpected character '~'; operators need spaces around them: write "
                    "'a =~ \"x\"', not 'a=~\"x\"'");
      return fail(i, "unexpected character '" + std::string(1, c) +
                         "'; field names cannot contain ^ ` ' # ~ @ : / % [ ] { }");
    }
    auto word = text_.substr(i, name_len);
    t.kind = keyword_kind(word);
    if (t.kind == token_kind::name)
      t.str = word;
    return finish(t, name_len);
  }

  std::optional<error> finish(token& t, size_t len) {
    t.text = text_.substr(t.offset, len);
    pos_ = t.offset + len;
    return std::nullopt;
  }

  std::optional<error> lex_number(token& t, number_match num) {
    auto s = text_.substr(t.offset, num.len);
    finish(t, num.len);
    if (num.hex)
      return fail(t.offset, "hexadecimal number " + std::string(s) +
                                " is not supported; write it in decimal");
    t.kind = num.kind;
    if (num.kind == token_kind::floating) {
      bool neg = s.starts_with('-');
      auto body = neg ? s.substr(1) : s;
      if (body == "Infinity")
        t.real = neg ? -std::numeric_limits<double>::infinity()
                     : std::numeric_limits<double>::infinity();
      else if (body == "NaN")
        t.real = std::numeric_limits<double>::quiet_NaN();
      else
        t.real = parse_double(s);
      return std::nullopt;
    }
    // Drop the l/L/n/N suffix.
    if (!is_digit(s.back()))
      s.remove_suffix(1);
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), t.integer);
    if (ec == std::errc{}) {
      t.real = static_cast<double>(t.integer);
      return std::nullopt;
    }
    if (num.kind == token_kind::long_int)
      return fail(t.offset, "integer " + std::string(s) +
                                " does not fit in 64 bits; append N for a big integer");
    bool neg = s.starts_with('-');
    auto digits = neg ? s.substr(1) : s;
    digits.remove_prefix(std::min(digits.find_first_not_of('0'), digits.size()));
    t.big_digits = (neg ? "-" : "") + std::string(digits);
    t.real = parse_double(t.big_digits);
    return std::nullopt;
  }

  // STRING, decoded like Clojure's reader: \" \\ \b \t \n \f \r, \uXXXX and
  // octal \0 to \377.
  std::optional<error> lex_string(token& t) {
    size_t i = t.offset + 1;
    std::string& out = t.str;
    for (;;) {
      if (i >= text_.size())
        return fail(t.offset, "unterminated string; add a closing '\"'");
      char c = text_[i];
      if (c == '"')
        break;
      if (c != '\\') {
        out += c;
        ++i;
        continue;
      }
      size_t esc = i;
      if (i + 1 >= text_.size())
        return fail(t.offset, "unterminated string; add a closing '\"'");
      char e = text_[i + 1];
      i += 2;
      switch (e) {
        case '"':
          out += '"';
          continue;
        case '\\':
          out += '\\';
          continue;
        case 'b':
          out += '\b';
          continue;
        case 't':
          out += '\t';
          continue;
        case 'n':
          out += '\n';
          continue;
        case 'f':
          out += '\f';
          continue;
        case 'r':
          out += '\r';
          continue;
        case 'u': {
          int64_t cp = read_hex4(text_, i);
          if (cp < 0)
            return fail(esc, "\\u must be followed by four hex digits");
          i += 4;
          if (cp >= 0xDC00 && cp <= 0xDFFF)
            return fail(esc, "unpaired low surrogate in \\u escape cannot be UTF-8");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            int64_t lo =
                at(text_, i) == '\\' && at(text_, i + 1) == 'u' ? read_hex4(text_, i + 2) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF)
              return fail(esc,
                          "high surrogate in \\u escape must be followed by a \\u low surrogate");
            i += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, static_cast<uint32_t>(cp));
          continue;
        }
        default:
          break;
      }
      if (e >= '0' && e <= '7') {
        uint32_t v = e - '0';
        for (int n = 1; n < 3 && at(text_, i) >= '0' && at(text_, i) <= '7'; ++n, ++i)
          v = v * 8 + (text_[i] - '0');
        if (v > 0377)
          return fail(esc, "octal escape must be in the range \\0 to \\377");
        append_utf8(out, v);
        continue;
      }
      return fail(esc, "unsupported escape '\\" + std::string(1, e) +
                           "' in string; use \\\" \\\\ \\b \\t \\n \\f \\r or \\uXXXX");
    }
    t.kind = token_kind::string;
    return finish(t, i + 1 - t.offset);
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

const char* describe(token_kind kind) {
  switch (kind) {
    case token_kind::lparen:
      return "'('";
    case token_kind::rparen:
      return "')'";
    case token_kind::kw_not:
      return "'not'";
    case token_kind::kw_and:
      return "'and'";
    case token_kind::kw_or:
      return "'or'";
    case token_kind::kw_tagged:
      return "'tagged'";
    case token_kind::kw_true:
      return "'true'";
    case token_kind::kw_false:
      return "'false'";
    case token_kind::kw_nil:
      return "nil";
    case token_kind::op_eq:
      return "'='";
    case token_kind::op_ne:
      return "'!='";
    case token_kind::op_lt:
      return "'<'";
    case token_kind::op_gt:
      return "'>'";
    case token_kind::op_le:
      return "'<='";
    case token_kind::op_ge:
      return "'>='";
    case token_kind::op_like:
      return "'=~'";
    case token_kind::op_regex:
      return "'~='";
    case token_kind::string:
      return "a string";
    case token_kind::long_int:
      return "an integer";
    case token_kind::big_int:
      return "a big integer";
    case token_kind::floating:
      return "a float";
    case token_kind::name:
      return "a field name";
    case token_kind::end:
      return "the end of the query";
  }
  return "?";
}

size_t column_of(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + std::count_if(text.begin(), text.begin() + offset,
                           [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

error make_parse_error(std::string_view text, size_t offset, std::string_view what) {
  std::string msg = "parse error at column " + std::to_string(column_of(text, offset)) + ": ";
  msg += what;
  msg += " in '";
  msg += text;
  msg += "'";
  return error{ec::bad_query, std::move(msg)};
}

result<std::vector<token>> lex(std::string_view text) {
  return lexer{text}.run();
}

}  // namespace dmon::query
