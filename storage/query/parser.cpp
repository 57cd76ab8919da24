// Query parser: recursive descent, parens > not > and > or, and/or left-associative.
#include "query/parser.hpp"

#include <memory>
#include <optional>

#include <re2/re2.h>

#include "query/lexer.hpp"

namespace dmon::query {

namespace {

// Returns "the string "x"", "the field name 'y'" and the like, for "found ...".
std::string describe_found(const token& t) {
  switch (t.kind) {
    case token_kind::string:
      return "the string " + std::string(t.text);
    case token_kind::name:
      return "the field name '" + t.str + "'";
    case token_kind::long_int:
    case token_kind::big_int:
    case token_kind::floating:
      return "the number " + std::string(t.text);
    case token_kind::kw_true:
    case token_kind::kw_false:
    case token_kind::kw_nil:
      return std::string(t.text);
    default:
      return describe(t.kind);
  }
}

// Operators glued to a name lex as part of it (`metric>2`, `host="a"`); say
// so when such a name shows up where it breaks the parse.
std::string glue_hint(const token& t) {
  if (t.kind != token_kind::name || t.str.find_first_of("=<>!") == std::string::npos)
    return "";
  return " (operators need spaces around them: '" + t.str + "' reads as one field name)";
}

// Java's class intersection `[a-z&&[^c]]` is valid RE2 too, but there it
// means the literal characters '&', '[' and so on; refused rather than misread.
bool has_class_intersection(std::string_view p) {
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && !in_class && p.substr(i).starts_with("\\Q")) {
      // \Q...\E quotes everything up to \E (or the end).
      auto end = p.find("\\E", i + 2);
      i = end == std::string_view::npos ? p.size() : end + 1;
    } else if (c == '\\') {
      ++i;
    } else if (!in_class) {
      in_class = c == '[';
      // A ']' right after '[' or '[^' is a literal member, not the end.
      if (in_class && i + 1 < p.size() && p[i + 1] == '^')
        ++i;
      if (in_class && i + 1 < p.size() && p[i + 1] == ']')
        ++i;
    } else if (c == ']') {
      in_class = false;
    } else if (c == '&' && i + 1 < p.size() && p[i + 1] == '&') {
      return true;
    }
  }
  return false;
}

// Says why RE2 refused a Java construct that users are likely to write, or
// returns "" when RE2's own message is enough.
std::string java_hint(const re2::RE2& re) {
  const auto& arg = re.error_arg();
  switch (re.error_code()) {
    case re2::RE2::ErrorBadEscape:
      if (arg.size() == 2 && arg[1] >= '1' && arg[1] <= '9')
        return " (back-references need backtracking, which RE2 does not do so that no "
               "query can hang the node)";
      if (arg == "\\u")
        return " (write the character itself, or the query string escape \"\\u0041\" with "
               "one backslash, or \\x{41})";
      return "";
    case re2::RE2::ErrorBadPerlOp:
      if (arg == "(?=" || arg == "(?!")
        return " (lookahead is not supported)";
      if (arg == "(?<")
        return " (lookbehind is not supported; a named group is written (?P<name>...))";
      if (arg == "(?>")
        return " (atomic groups are not supported)";
      return "";
    case re2::RE2::ErrorRepeatOp:
      if (arg.size() >= 2 && arg.back() == '+')
        return " (possessive quantifiers are not supported)";
      return "";
    default:
      return "";
  }
}

class parser {
 public:
  parser(std::string_view text, std::vector<token> tokens)
      : text_(text), tokens_(std::move(tokens)) {}

  result<std::shared_ptr<const node>> run() {
    auto root = parse_or();
    if (!err_ && peek().kind != token_kind::end) {
      if (peek().kind == token_kind::rparen)
        fail(peek(), "unbalanced ')': no '(' is open here");
      else
        expected(peek(), "'and', 'or' or the end of the query");
    }
    if (err_)
      return std::move(*err_);
    return std::shared_ptr<const node>(std::move(root));
  }

 private:
  const token& peek() const { return tokens_[pos_]; }

  const token& advance() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }

  // Records the first error only; callers unwind by checking err_.
  node_ptr fail(const token& at, std::string_view what) {
    if (!err_)
      err_ = make_parse_error(text_, at.offset, what);
    return nullptr;
  }

  // The hint looks at the previous token too: in `host="a"` the name
  // `host=` parses, and the string after it is what fails.
  node_ptr expected(const token& at, std::string_view what) {
    auto hint = glue_hint(at);
    if (hint.empty() && pos_ > 0 && &at == &peek())
      hint = glue_hint(tokens_[pos_ - 1]);
    return fail(at, "expected " + std::string(what) + " but found " + describe_found(at) + hint);
  }

  static node_ptr make(auto&& alternative) {
    return std::make_unique<const node>(node{std::forward<decltype(alternative)>(alternative)});
  }

  // or_expr := and_expr ('or' and_expr)*
  node_ptr parse_or() {
    auto first = parse_and();
    if (err_ || peek().kind != token_kind::kw_or)
      return first;
    or_node chain;
    chain.children.push_back(std::move(first));
    while (peek().kind == token_kind::kw_or) {
      advance();
      chain.children.push_back(parse_and());
      if (err_)
        return nullptr;
    }
    return make(std::move(chain));
  }

  // and_expr := not_expr ('and' not_expr)*
  node_ptr parse_and() {
    auto first = parse_not();
    if (err_ || peek().kind != token_kind::kw_and)
      return first;
    and_node chain;
    chain.children.push_back(std::move(first));
    while (peek().kind == token_kind::kw_and) {
      advance();
      chain.children.push_back(parse_not());
      if (err_)
        return nullptr;
    }
    return make(std::move(chain));
  }

  // not_expr := 'not' not_expr | primary
  node_ptr parse_not() {
    if (peek().kind != token_kind::kw_not)
      return parse_primary();
    auto& kw = advance();
    if (++depth_ > max_nesting)
      return too_deep(kw);
    auto child = parse_not();
    --depth_;
    if (err_)
      return nullptr;
    return make(not_node{std::move(child)});
  }

  node_ptr too_deep(const token& at) {
    return fail(at, "query nests parentheses and 'not' deeper than " + std::to_string(max_nesting) +
                        " levels; flatten it");
  }

  // primary := '(' or_expr ')' | simple
  node_ptr parse_primary() {
    if (peek().kind != token_kind::lparen)
      return parse_simple();
    auto& open = advance();
    if (++depth_ > max_nesting)
      return too_deep(open);
    auto inner = parse_or();
    --depth_;
    if (err_)
      return nullptr;
    if (peek().kind != token_kind::rparen)
      return expected(peek(), "'and', 'or' or ')' to close the '(' at column " +
                                  std::to_string(column_of(text_, open.offset)));
    advance();
    return inner;
  }

  // value := true | false | nil | number | STRING | field
  std::optional<operand> parse_value() {
    auto& t = peek();
    switch (t.kind) {
      case token_kind::kw_true:
        advance();
        return operand{true};
      case token_kind::kw_false:
        advance();
        return operand{false};
      case token_kind::kw_nil:
        advance();
        return operand{std::monostate{}};
      case token_kind::string:
        advance();
        return operand{t.str};
      case token_kind::name:
        advance();
        return operand{make_field(t.str)};
      default:
        return parse_number();
    }
  }

  // number := FLOAT | BIGN | LONG
  std::optional<operand> parse_number() {
    auto& t = peek();
    switch (t.kind) {
      case token_kind::floating:
        advance();
        return operand{t.real};
      case token_kind::long_int:
        advance();
        return operand{t.integer};
      case token_kind::big_int:
        advance();
        if (t.big_digits.empty())
          return operand{t.integer};
        return operand{big_integer{t.big_digits, t.real}};
      default:
        return std::nullopt;
    }
  }

  std::optional<std::string> parse_string() {
    if (peek().kind != token_kind::string)
      return std::nullopt;
    return advance().str;
  }

  // simple := tagged | value op value | value op number | value op STRING | value
  node_ptr parse_simple() {
    if (peek().kind == token_kind::kw_tagged) {
      advance();
      auto tag = parse_string();
      if (!tag)
        return expected(peek(), "a string after 'tagged'");
      return make(tagged_node{std::move(*tag)});
    }
    auto lhs = parse_value();
    if (!lhs)
      return expected(peek(), "a field, a value, 'not', 'tagged' or '(' to start a predicate");
    auto& op = peek();
    switch (op.kind) {
      case token_kind::op_eq:
      case token_kind::op_ne: {
        advance();
        auto rhs = parse_value();
        if (!rhs)
          return expected(peek(), "a field or a value after '" + std::string(op.text) + "'");
        auto cmp = op.kind == token_kind::op_eq ? compare_op::eq : compare_op::ne;
        return make(compare_node{cmp, std::move(*lhs), std::move(*rhs)});
      }
      case token_kind::op_lt:
      case token_kind::op_gt:
      case token_kind::op_le:
      case token_kind::op_ge: {
        advance();
        auto rhs = parse_number();
        if (!rhs)
          return expected(peek(), "a number after '" + std::string(op.text) + "'");
        return make(compare_node{order_op(op.kind), std::move(*lhs), std::move(*rhs)});
      }
      case token_kind::op_like: {
        advance();
        auto pattern = parse_string();
        if (!pattern)
          return expected(peek(), "a string pattern after '=~'");
        return make(make_like(std::move(*lhs), std::move(*pattern)));
      }
      case token_kind::op_regex: {
        advance();
        auto& at = peek();
        auto pattern = parse_string();
        if (!pattern)
          return expected(peek(), "a string pattern after '~='");
        return make_regex(at, std::move(*lhs), std::move(*pattern));
      }
      default:
        return make(truthy_node{std::move(*lhs)});
    }
  }

  static compare_op order_op(token_kind kind) {
    switch (kind) {
      case token_kind::op_lt:
        return compare_op::lt;
      case token_kind::op_gt:
        return compare_op::gt;
      case token_kind::op_le:
        return compare_op::le;
      default:
        return compare_op::ge;
    }
  }

  static like_node make_like(operand subject, std::string pattern) {
    like_node l{std::move(subject), std::move(pattern), {}};
    size_t start = 0;
    for (;;) {
      auto pct = l.pattern.find('%', start);
      l.segments.push_back(l.pattern.substr(start, pct - start));
      if (pct == std::string::npos)
        break;
      start = pct + 1;
    }
    return l;
  }

  // Compiles once here, so evaluation has no error path and every matcher
  // runs in time linear in its subject (RE2 has no backtracking).
  node_ptr make_regex(const token& at, operand subject, std::string pattern) {
    if (has_class_intersection(pattern))
      return fail(at, "regular expression " + quote(pattern) +
                          " uses Java's class intersection '&&', which RE2 would read as "
                          "literal characters; list the class members instead");
    re2::RE2::Options options;
    options.set_log_errors(false);
    auto re = std::make_shared<const re2::RE2>(pattern, options);
    if (!re->ok())
      return fail(at, "invalid regular expression " + quote(pattern) + ": " + re->error() +
                          java_hint(*re) + "; patterns use RE2 syntax");
    return make(regex_node{std::move(subject), std::move(pattern), std::move(re)});
  }

  std::string_view text_;
  std::vector<token> tokens_;
  size_t pos_ = 0;
  size_t depth_ = 0;
  std::optional<error> err_;
};

}  // namespace

result<std::shared_ptr<const node>> parse_ast(std::string_view text) {
  auto tokens = lex(text);
  if (!tokens)
    return tokens.error();
  return parser{text, std::move(*tokens)}.run();
}

}  // namespace dmon::query
