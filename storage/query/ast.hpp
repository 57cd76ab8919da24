// The query AST: literals, field references and predicate nodes, plus the printers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace re2 {
class RE2;
}  // namespace re2

namespace dmon::query {

/// An integer literal outside the int64 range, written with the `N` suffix
/// (Clojure's BigInt). Literals that fit are stored as `int64_t` instead, so
/// `1N = 1` holds as in Clojure.
struct big_integer {
  /// Decimal digits with an optional leading '-', no leading zeros.
  std::string digits;
  /// The nearest double, for ordering against floats (Clojure does the same).
  double approx = 0;
};

/// Which event field a name refers to. Core fields shadow attributes of the
/// same name; every other name is looked up among the attributes.
enum class field_id : uint8_t {
  host,
  service,
  state,
  description,
  metric,
  time,
  ttl,
  tags,
  attribute,
};

/// A field name as written in the query.
struct field_ref {
  field_id id = field_id::attribute;
  std::string name;
};

/// Returns the field reference for `name`.
field_ref make_field(std::string name);

/// Something that yields a value: a literal (nil is `std::monostate`) or a field.
using operand =
    std::variant<std::monostate, bool, int64_t, big_integer, double, std::string, field_ref>;

/// The comparison operators; `<` to `>=` take a numeric right side.
enum class compare_op : uint8_t { eq, ne, lt, gt, le, ge };

/// Returns the operator as written, e.g. "!=".
const char* to_string(compare_op op);

struct node;
using node_ptr = std::unique_ptr<const node>;

/// A bare field or literal used as a predicate: matches when truthy.
struct truthy_node {
  operand value;
};

/// `lhs op rhs`.
struct compare_node {
  compare_op op;
  operand lhs;
  operand rhs;
};

/// `subject =~ "pattern"`: SQL LIKE where only `%` is special.
struct like_node {
  operand subject;
  std::string pattern;
  /// The pattern split at each `%`; there is one more segment than wildcards.
  std::vector<std::string> segments;
};

/// `subject ~= "pattern"`: unanchored regex search.
struct regex_node {
  operand subject;
  /// The pattern as written, for printing.
  std::string pattern;
  /// Compiled once by the parser; the evaluator runs an unanchored partial
  /// match, in time linear in the subject. RE2 is safe for concurrent const
  /// use, so the AST stays shareable across threads. Never null.
  std::shared_ptr<const re2::RE2> re;
};

/// `tagged "tag"`.
struct tagged_node {
  std::string tag;
};

/// `not child`.
struct not_node {
  node_ptr child;
};

/// A left-associative chain `a and b and c`, kept flat so that long generated
/// queries do not build deep trees. Parenthesized groups stay nested.
struct and_node {
  std::vector<node_ptr> children;
};

/// A left-associative chain `a or b or c`.
struct or_node {
  std::vector<node_ptr> children;
};

/// One predicate node. Immutable once built by the parser.
struct node {
  std::variant<truthy_node, compare_node, like_node, regex_node, tagged_node, not_node, and_node,
               or_node>
      v;
};

/// Returns `n` in canonical query syntax: single spaces, minimal parentheses,
/// escaped strings, floats that re-parse as floats. Parsing the result yields
/// an equal AST.
std::string to_query_string(const node& n);

/// Returns `n` as a Riemann-style s-expression, e.g. `(and (= :host "a") (not
/// (:tagged "x")))`, with and/or chains folded left as binary forms. This shows
/// precedence and associativity exactly; tests compare against it.
std::string to_sexpr(const node& n);

/// Returns `v` in query syntax.
std::string to_query_string(const operand& v);

/// Returns `s` as a double-quoted query string literal with escapes.
std::string quote(std::string_view s);

/// Returns `d` in the shortest form that the lexer reads back as the same
/// float: `1.0`, `1.5e-7`, `Infinity`, `NaN`.
std::string format_float(double d);

}  // namespace dmon::query
