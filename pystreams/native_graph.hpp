// Bridges the native engine to the loaded Python module: compiles its roots, exposes their state.
#pragma once

#include <pybind11/pytypes.h>

#include <string>

#include "error.hpp"
#include "native/engine.hpp"

namespace dmon::native_graph {

/// Describes `stream` with dmon.native.plan and compiles it into `eng` as root `name`.
/// Returns the root's number in `eng`, or why it stays in Python (ec::unsupported).
/// Caller holds the GIL.
result<size_t> compile_root(native::engine& eng, const std::string& name, pybind11::handle stream);

/// A Python object with `state(path)`, `changed(path)` (the per-key state changed since the
/// last call: node::take_changed_state) and `restore(path, data)` over native root `root`,
/// the delegate dmon.state.snapshot/restore take for roots that run natively. Caller holds
/// the GIL; the object must not outlive `eng`.
pybind11::object state_delegate(native::engine& eng, size_t root);

}  // namespace dmon::native_graph
