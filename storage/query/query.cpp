// dmon::query::predicate and its cache: thin wrappers over the parser, evaluator and printer.
#include "query/query.hpp"

#include "query/ast.hpp"
#include "query/eval.hpp"
#include "query/parser.hpp"

namespace dmon::query {

namespace {

// Returns the value of `host = "x"`-like clauses: which core field is
// compared to which string or nil.
struct key_clause {
  field_id field;
  std::optional<std::string> value;
};

std::optional<std::optional<std::string>> key_value(const operand& v) {
  if (std::holds_alternative<std::monostate>(v))
    return std::optional<std::string>{};
  if (auto* s = std::get_if<std::string>(&v))
    return std::optional<std::string>{*s};
  return std::nullopt;
}

std::optional<key_clause> as_key_clause(const node& n) {
  auto* c = std::get_if<compare_node>(&n.v);
  if (!c || c->op != compare_op::eq)
    return std::nullopt;
  auto try_side = [](const operand& f, const operand& v) -> std::optional<key_clause> {
    auto* ref = std::get_if<field_ref>(&f);
    if (!ref || (ref->id != field_id::host && ref->id != field_id::service))
      return std::nullopt;
    auto value = key_value(v);
    if (!value)
      return std::nullopt;
    return key_clause{ref->id, std::move(*value)};
  };
  if (auto k = try_side(c->lhs, c->rhs))
    return k;
  return try_side(c->rhs, c->lhs);
}

}  // namespace

bool predicate::matches(const event& e) const {
  return evaluate(*root_, e);
}

std::optional<exact_key_type> predicate::exact_key() const {
  auto* a = std::get_if<and_node>(&root_->v);
  if (!a || a->children.size() != 2)
    return std::nullopt;
  auto first = as_key_clause(*a->children[0]);
  auto second = as_key_clause(*a->children[1]);
  if (!first || !second || first->field == second->field)
    return std::nullopt;
  if (first->field == field_id::service)
    std::swap(first, second);
  return exact_key_type{std::move(first->value), std::move(second->value)};
}

std::string predicate::to_string() const {
  return to_query_string(*root_);
}

result<predicate> parse(std::string_view text) {
  auto root = parse_ast(text);
  if (!root)
    return root.error();
  return predicate{std::move(*root)};
}

result<predicate> predicate_cache::parse(std::string_view text) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (auto i = index_.find(text); i != index_.end()) {
      lru_.splice(lru_.begin(), lru_, i->second);
      return i->second->second;
    }
  }
  // Parse outside the lock: a slow regex compile must not stall other
  // callers. Two threads may parse the same text; the second insert is
  // dropped below.
  auto p = query::parse(text);
  if (!p)
    return p;
  std::lock_guard<std::mutex> guard{mtx_};
  if (index_.find(text) == index_.end()) {
    lru_.emplace_front(std::string{text}, *p);
    index_.emplace(lru_.front().first, lru_.begin());
    if (lru_.size() > capacity_) {
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }
  return p;
}

size_t predicate_cache::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return lru_.size();
}

result<predicate> parse_cached(std::string_view text) {
  static predicate_cache cache;
  return cache.parse(text);
}

}  // namespace dmon::query
