// Constructors of the native nodes, one per Python built-in; used by the compiler and the tests.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "native/node.hpp"
#include "query/query.hpp"

namespace dmon::native {

/// Python truthiness of saved state (`if data:` in the _restore methods).
bool truthy(const json& j);

// -- filters (filters.cpp) ------------------------------------------------------------
/// where(query, *children, else_=...); `always` set for where(True/False/None).
node_ptr make_where(std::optional<query::predicate> pred, std::optional<bool> always,
                    std::vector<node_ptr> children, std::vector<node_ptr> else_children);
/// A predicate the host evaluates (a Python function): true/false, or nullopt when it
/// raised (reported by the predicate itself; the event is dropped, as in Python).
using where_predicate = std::function<std::optional<bool>(const event&)>;
node_ptr make_where_fn(where_predicate pred, std::vector<node_ptr> children,
                       std::vector<node_ptr> else_children);
/// match(field, value) with a string or None: the field (event::find_string) equals `value`.
node_ptr make_match_equals(std::string field, std::optional<std::string> value,
                           std::vector<node_ptr> children);
/// match(f, value) decided by the host (`pred`), named "match".
node_ptr make_match_fn(where_predicate pred, std::vector<node_ptr> children);
/// One clause of split: a query, a host predicate, or the default (neither).
struct split_clause {
  std::optional<query::predicate> query;
  where_predicate fn;
};
/// split(*clauses): each event to the child of the first clause that holds.
node_ptr make_split(std::vector<split_clause> clauses, std::vector<node_ptr> children);
node_ptr make_tagged(bool all, std::vector<std::string> tags, std::vector<node_ptr> children);
/// over(x) when `above`, under(x) otherwise.
node_ptr make_threshold(bool above, number x, std::vector<node_ptr> children);
/// expired() when `want`, not_expired() otherwise.
node_ptr make_expired(bool want, context& ctx, std::vector<node_ptr> children);
node_ptr make_sdo(std::vector<node_ptr> children);

// -- transforms and sinks (transforms.cpp) ----------------------------------------------
/// A value with_/default set: None, a string, a number, a list of tags or a bool.
struct field_value {
  enum class type { none, text, num, tags, boolean } t = type::none;
  std::string text;
  number num;
  std::vector<std::string> tags;
  bool boolean = false;
};
struct field_assignment {
  std::string name;
  field_value value;
};
/// with_(fields) when `only_missing` is false, default(fields) otherwise.
node_ptr make_with(bool only_missing, std::vector<field_assignment> fields,
                   std::vector<node_ptr> children);
/// tag(tags) or untag(tags); `tags` already flattened and deduplicated.
node_ptr make_tag(bool add, std::vector<std::string> tags, std::vector<node_ptr> children);
node_ptr make_scale(number factor, std::vector<node_ptr> children);
node_ptr make_index(context& ctx);
node_ptr make_store(context& ctx);
node_ptr make_publish(context& ctx, std::string topic);

// -- stateful (stateful.cpp, by.cpp) ----------------------------------------------------
node_ptr make_rate(context& ctx, number interval, std::vector<node_ptr> children);
/// changed(field, init=...) on a string field (core or attribute); `init` empty is None.
node_ptr make_changed(std::string field, std::optional<std::string> init,
                      std::vector<node_ptr> children);
/// throttle(n, dt); the window grid is anchored at `anchor` (the Python object's).
node_ptr make_throttle(context& ctx, int64_t n, number dt, double anchor,
                       std::vector<node_ptr> children);
node_ptr make_coalesce(context& ctx, number dt, std::vector<node_ptr> children);
/// by(fields, *templates, idle=...): fields are string fields (core or attribute);
/// every new key gets fresh copies of `templates`.
node_ptr make_by(context& ctx, std::vector<std::string> fields, std::optional<number> idle,
                 std::vector<node_ptr> templates);

// -- regroup (regroup.cpp) ----------------------------------------------------------------
/// regroup(fields, *children) at `address` ("<root>/<dmon.state path>"): events go to the
/// context's regroup sink, or straight to the children when there is none.
node_ptr make_regroup(context& ctx, std::string address, std::vector<std::string> fields,
                      std::vector<node_ptr> children);
/// Every regroup node under `root` (through branches and by templates, not forks) by its
/// address.
std::vector<std::pair<std::string, node*>> find_regroups(node& root);
/// Runs the children of regroup node `n` on `e` (which the new key's owner received); false
/// when `n` is not a regroup node.
bool deliver_regrouped(node& n, const event& e);

}  // namespace dmon::native
