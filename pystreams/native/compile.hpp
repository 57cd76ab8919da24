// dmon::native::compile: a stream graph's description (dmon.native.plan JSON) into native nodes.
#pragma once

#include <functional>

#include "error.hpp"
#include "native/node.hpp"
#include "native/nodes.hpp"

namespace dmon::native {

/// What the host can take from native sink nodes.
struct compile_options {
  bool store = true;
  bool publish = true;
  /// Supplies the predicate of a `where` whose description carries {"predicate": "python",
  /// "ref": N} (a user function the host calls itself); empty: such a where is refused.
  std::function<result<where_predicate>(const json& desc)> python_predicate;
  /// Builds a node that hands events to a Python subtree, for a description carrying
  /// {"leaf": N} that does not compile natively; empty: such a subtree is refused.
  std::function<result<node_ptr>(const json& desc)> python_leaf;
  /// Builds a `changed` whose value only Python computes and compares (a function, a
  /// non-string field, a non-string init) over native `children`; desc carries "ref".
  std::function<result<node_ptr>(const json& desc, std::vector<node_ptr> children)> python_changed;
};

/// Builds the native graph for `desc`, the JSON of dmon.native.plan(stream): every node
/// must be a built-in this library has, with parameters it represents exactly. Returns
/// ec::unsupported with a message naming the first node that is not, and why ("where at
/// where/0 has a Python predicate"), so the caller runs that root in Python instead.
/// `host_calls`, when given, receives how many nodes call into the host (Python predicates
/// and subtrees):
/// a graph with any must run with the GIL held.
result<node_ptr> compile(const json& desc, context& ctx, const compile_options& opts = {},
                         size_t* host_calls = nullptr);

}  // namespace dmon::native
