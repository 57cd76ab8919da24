// Printers for the query AST: canonical query text and Riemann-style s-expressions.
#include "query/ast.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace dmon::query {

field_ref make_field(std::string name) {
  static constexpr std::pair<std::string_view, field_id> core[] = {
      {"host", field_id::host},     {"service", field_id::service},
      {"state", field_id::state},   {"description", field_id::description},
      {"metric", field_id::metric}, {"time", field_id::time},
      {"ttl", field_id::ttl},       {"tags", field_id::tags},
  };
  for (auto& [n, id] : core)
    if (n == name)
      return {id, std::move(name)};
  return {field_id::attribute, std::move(name)};
}

const char* to_string(compare_op op) {
  switch (op) {
    case compare_op::eq:
      return "=";
    case compare_op::ne:
      return "!=";
    case compare_op::lt:
      return "<";
    case compare_op::gt:
      return ">";
    case compare_op::le:
      return "<=";
    case compare_op::ge:
      return ">=";
  }
  return "?";
}

std::string quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string format_float(double d) {
  if (std::isnan(d))
    return "NaN";
  if (std::isinf(d))
    return d < 0 ? "-Infinity" : "Infinity";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  std::string s(buf, end);
  // The grammar's exponent is `[eE]-?[0-9]+`: no '+' allowed. Leading zeros
  // (to_chars writes 1e+05) are legal but noise.
  if (auto e = s.find('e'); e != std::string::npos) {
    size_t digits = e + 1;
    if (s[digits] == '+')
      s.erase(digits, 1);
    else if (s[digits] == '-')
      ++digits;
    while (digits + 1 < s.size() && s[digits] == '0')
      s.erase(digits, 1);
  }
  // Without '.' or an exponent the lexer would read an integer.
  if (s.find_first_of(".e") == std::string::npos)
    s += ".0";
  return s;
}

namespace {

// Operands print the same in both printers, except that s-expressions mark
// fields as Clojure keywords.
std::string print_operand(const operand& v, bool sexpr) {
  struct visitor {
    bool sexpr;
    std::string operator()(std::monostate) const { return "nil"; }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(const big_integer& b) const { return b.digits + "N"; }
    std::string operator()(double d) const { return format_float(d); }
    std::string operator()(const std::string& s) const { return quote(s); }
    std::string operator()(const field_ref& f) const { return sexpr ? ":" + f.name : f.name; }
  };
  return std::visit(visitor{sexpr}, v);
}

// Binding strength for deciding where canonical text needs parentheses.
enum class level { or_, and_, not_, atom };

level level_of(const node& n) {
  if (std::holds_alternative<or_node>(n.v))
    return level::or_;
  if (std::holds_alternative<and_node>(n.v))
    return level::and_;
  if (std::holds_alternative<not_node>(n.v))
    return level::not_;
  return level::atom;
}

// Prints `n` where a node binding at least as tight as `min` is required.
// Equal-level and/or children must have come from explicit parentheses
// (chains are flat), so they keep them.
void print_query(const node& n, std::string& out);

void print_child(const node& child, level min, std::string& out) {
  auto l = level_of(child);
  bool parens = l < min || (l == min && min != level::not_ && min != level::atom);
  if (parens)
    out += '(';
  print_query(child, out);
  if (parens)
    out += ')';
}

void print_query(const node& n, std::string& out) {
  struct visitor {
    std::string& out;
    void operator()(const truthy_node& t) { out += print_operand(t.value, false); }
    void operator()(const compare_node& c) {
      out += print_operand(c.lhs, false);
      out += ' ';
      out += to_string(c.op);
      out += ' ';
      out += print_operand(c.rhs, false);
    }
    void operator()(const like_node& l) {
      out += print_operand(l.subject, false);
      out += " =~ ";
      out += quote(l.pattern);
    }
    void operator()(const regex_node& r) {
      out += print_operand(r.subject, false);
      out += " ~= ";
      out += quote(r.pattern);
    }
    void operator()(const tagged_node& t) {
      out += "tagged ";
      out += quote(t.tag);
    }
    void operator()(const not_node& x) {
      out += "not ";
      print_child(*x.child, level::not_, out);
    }
    void operator()(const and_node& a) { chain(a.children, " and ", level::and_); }
    void operator()(const or_node& o) { chain(o.children, " or ", level::or_); }
    void chain(const std::vector<node_ptr>& children, const char* sep, level l) {
      for (size_t i = 0; i < children.size(); ++i) {
        if (i > 0)
          out += sep;
        print_child(*children[i], l, out);
      }
    }
  };
  std::visit(visitor{out}, n.v);
}

void print_sexpr(const node& n, std::string& out) {
  struct visitor {
    std::string& out;
    void operator()(const truthy_node& t) { out += print_operand(t.value, true); }
    void operator()(const compare_node& c) {
      out += '(';
      // Riemann's AST spells != as Clojure's not=.
      out += c.op == compare_op::ne ? "not=" : to_string(c.op);
      out += ' ';
      out += print_operand(c.lhs, true);
      out += ' ';
      out += print_operand(c.rhs, true);
      out += ')';
    }
    void operator()(const like_node& l) {
      out += "(:like " + quote(l.pattern) + ' ' + print_operand(l.subject, true) + ')';
    }
    void operator()(const regex_node& r) {
      out += "(:regex " + quote(r.pattern) + ' ' + print_operand(r.subject, true) + ')';
    }
    void operator()(const tagged_node& t) { out += "(:tagged " + quote(t.tag) + ')'; }
    void operator()(const not_node& x) {
      out += "(not ";
      print_sexpr(*x.child, out);
      out += ')';
    }
    void operator()(const and_node& a) { fold(a.children, "and"); }
    void operator()(const or_node& o) { fold(o.children, "or"); }
    // a op b op c is ((a op b) op c): open n-1 forms up front.
    void fold(const std::vector<node_ptr>& children, const char* op) {
      for (size_t i = 1; i < children.size(); ++i) {
        out += '(';
        out += op;
        out += ' ';
      }
      for (size_t i = 0; i < children.size(); ++i) {
        if (i > 0)
          out += ' ';
        print_sexpr(*children[i], out);
        if (i > 0)
          out += ')';
      }
    }
  };
  std::visit(visitor{out}, n.v);
}

}  // namespace

std::string to_query_string(const node& n) {
  std::string out;
  print_query(n, out);
  return out;
}

std::string to_sexpr(const node& n) {
  std::string out;
  print_sexpr(n, out);
  return out;
}

std::string to_query_string(const operand& v) {
  return print_operand(v, false);
}

}  // namespace dmon::query
