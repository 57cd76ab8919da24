// dmon::native::compile: a stream graph's description (dmon.native.plan JSON) into native nodes.
#pragma once

#include "error.hpp"
#include "native/node.hpp"

namespace dmon::native {

/// What the host can take from native sink nodes.
struct compile_options {
  bool store = true;
  bool publish = true;
};

/// Builds the native graph for `desc`, the JSON of dmon.native.plan(stream): every node
/// must be a built-in this library has, with parameters it represents exactly. Returns
/// ec::unsupported with a message naming the first node that is not, and why ("where at
/// where/0 has a Python predicate"), so the caller runs that root in Python instead.
result<node_ptr> compile(const json& desc, context& ctx, const compile_options& opts = {});

}  // namespace dmon::native
