// Query evaluation: resolves operands to values and applies Clojure equality and ordering.
#include "query/eval.hpp"

#include <algorithm>
#include <cmath>

#include <re2/re2.h>

namespace dmon::query {

namespace {

using tag_list = const std::vector<std::string>*;

// A resolved value: points into the event or the AST, never owns. nil is
// std::monostate.
using datum = std::variant<std::monostate, bool, int64_t, const big_integer*, double,
                           std::string_view, tag_list>;

datum from_optional(const std::optional<std::string>& s) {
  if (s)
    return std::string_view{*s};
  return std::monostate{};
}

datum resolve(const field_ref& f, const event& e) {
  switch (f.id) {
    case field_id::host:
      return from_optional(e.host);
    case field_id::service:
      return from_optional(e.service);
    case field_id::state:
      return from_optional(e.state);
    case field_id::description:
      return from_optional(e.description);
    case field_id::metric:
      if (auto* i = std::get_if<int64_t>(&e.metric))
        return *i;
      if (auto* d = std::get_if<double>(&e.metric))
        return *d;
      return std::monostate{};
    case field_id::time:
      if (e.time_us)
        return static_cast<double>(*e.time_us) / 1e6;
      return std::monostate{};
    case field_id::ttl:
      if (e.ttl)
        return *e.ttl;
      return std::monostate{};
    case field_id::tags:
      // Riemann's decoder leaves :tags out when there are none.
      if (e.tags.empty())
        return std::monostate{};
      return &e.tags;
    case field_id::attribute:
      if (auto* v = e.find_attribute(f.name))
        return std::string_view{*v};
      return std::monostate{};
  }
  return std::monostate{};
}

datum resolve(const operand& v, const event& e) {
  struct visitor {
    const event& e;
    datum operator()(std::monostate) const { return std::monostate{}; }
    datum operator()(bool b) const { return b; }
    datum operator()(int64_t i) const { return i; }
    datum operator()(const big_integer& b) const { return &b; }
    datum operator()(double d) const { return d; }
    datum operator()(const std::string& s) const { return std::string_view{s}; }
    datum operator()(const field_ref& f) const { return resolve(f, e); }
  };
  return std::visit(visitor{e}, v);
}

bool truthy(const datum& d) {
  if (std::holds_alternative<std::monostate>(d))
    return false;
  if (auto* b = std::get_if<bool>(&d))
    return *b;
  return true;
}

bool is_number(const datum& d) {
  return std::holds_alternative<int64_t>(d) || std::holds_alternative<const big_integer*>(d) ||
         std::holds_alternative<double>(d);
}

// Clojure's =: numbers are equal only within one category (integers or
// floats), so 1 = 1.0 is false; floats compare with IEEE ==, so NaN never
// equals itself. Big integers never fit in 64 bits, so they only equal each
// other.
bool equal(const datum& a, const datum& b) {
  if (a.index() != b.index())
    return false;
  struct visitor {
    const datum& b;
    bool operator()(std::monostate) const { return true; }
    bool operator()(bool x) const { return x == std::get<bool>(b); }
    bool operator()(int64_t x) const { return x == std::get<int64_t>(b); }
    bool operator()(const big_integer* x) const {
      return x->digits == std::get<const big_integer*>(b)->digits;
    }
    bool operator()(double x) const { return x == std::get<double>(b); }
    bool operator()(std::string_view x) const { return x == std::get<std::string_view>(b); }
    bool operator()(tag_list x) const { return *x == *std::get<tag_list>(b); }
  };
  return std::visit(visitor{b}, a);
}

// Orders two big integers (or a big integer and an int64 rendered as digits)
// by sign, length, then digits.
int compare_digits(std::string_view a, std::string_view b) {
  bool an = a.starts_with('-');
  bool bn = b.starts_with('-');
  if (an != bn)
    return an ? -1 : 1;
  if (an) {
    a.remove_prefix(1);
    b.remove_prefix(1);
  }
  int mag = a.size() != b.size() ? (a.size() < b.size() ? -1 : 1) : a.compare(b);
  mag = mag < 0 ? -1 : (mag > 0 ? 1 : 0);
  return an ? -mag : mag;
}

// Numeric ordering as Clojure's Numbers: any float operand makes it a double
// comparison; integers compare exactly. Returns nullopt when unordered (NaN).
std::optional<int> order(const datum& a, const datum& b) {
  auto* ai = std::get_if<int64_t>(&a);
  auto* bi = std::get_if<int64_t>(&b);
  if (ai && bi)
    return *ai < *bi ? -1 : (*ai > *bi ? 1 : 0);
  auto* ab = std::get_if<const big_integer*>(&a);
  auto* bb = std::get_if<const big_integer*>(&b);
  if ((ab || ai) && (bb || bi)) {
    auto as = ab ? (*ab)->digits : std::to_string(*ai);
    auto bs = bb ? (*bb)->digits : std::to_string(*bi);
    return compare_digits(as, bs);
  }
  auto as_double = [](const datum& d) {
    if (auto* i = std::get_if<int64_t>(&d))
      return static_cast<double>(*i);
    if (auto* b = std::get_if<const big_integer*>(&d))
      return (*b)->approx;
    return std::get<double>(d);
  };
  double x = as_double(a);
  double y = as_double(b);
  if (x < y)
    return -1;
  if (x > y)
    return 1;
  if (x == y)
    return 0;
  return std::nullopt;
}

bool compare(const compare_node& c, const event& e) {
  auto a = resolve(c.lhs, e);
  auto b = resolve(c.rhs, e);
  switch (c.op) {
    case compare_op::eq:
      return equal(a, b);
    case compare_op::ne:
      return !equal(a, b);
    default:
      break;
  }
  if (!is_number(a) || !is_number(b))
    return false;
  auto o = order(a, b);
  if (!o)
    return false;
  switch (c.op) {
    case compare_op::lt:
      return *o < 0;
    case compare_op::gt:
      return *o > 0;
    case compare_op::le:
      return *o <= 0;
    default:
      return *o >= 0;
  }
}

bool regex_search(const regex_node& r, const event& e) {
  auto d = resolve(r.subject, e);
  auto* s = std::get_if<std::string_view>(&d);
  return s && re2::RE2::PartialMatch(re2::StringPiece(s->data(), s->size()), *r.re);
}

}  // namespace

bool like_match(std::string_view s, const std::vector<std::string>& segments) {
  if (segments.size() == 1)
    return s == segments[0];
  // First segment anchors at the start, last at the end; the middle ones
  // match leftmost-first, which is optimal when the only wildcard is %.
  const auto& head = segments.front();
  const auto& tail = segments.back();
  if (s.size() < head.size() + tail.size() || !s.starts_with(head) || !s.ends_with(tail))
    return false;
  auto middle = s.substr(head.size(), s.size() - head.size() - tail.size());
  for (size_t i = 1; i + 1 < segments.size(); ++i) {
    auto pos = middle.find(segments[i]);
    if (pos == std::string_view::npos)
      return false;
    middle.remove_prefix(pos + segments[i].size());
  }
  return true;
}

bool evaluate(const node& n, const event& e) {
  struct visitor {
    const event& e;
    bool operator()(const truthy_node& t) const { return truthy(resolve(t.value, e)); }
    bool operator()(const compare_node& c) const { return compare(c, e); }
    bool operator()(const like_node& l) const {
      auto d = resolve(l.subject, e);
      auto* s = std::get_if<std::string_view>(&d);
      return s && like_match(*s, l.segments);
    }
    bool operator()(const regex_node& r) const { return regex_search(r, e); }
    bool operator()(const tagged_node& t) const {
      return std::find(e.tags.begin(), e.tags.end(), t.tag) != e.tags.end();
    }
    bool operator()(const not_node& x) const { return !evaluate(*x.child, e); }
    bool operator()(const and_node& a) const {
      return std::all_of(a.children.begin(), a.children.end(),
                         [this](const node_ptr& c) { return evaluate(*c, e); });
    }
    bool operator()(const or_node& o) const {
      return std::any_of(o.children.begin(), o.children.end(),
                         [this](const node_ptr& c) { return evaluate(*c, e); });
    }
  };
  return std::visit(visitor{e}, n.v);
}

}  // namespace dmon::query
