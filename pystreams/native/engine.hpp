// dmon::native::engine: the native roots of one stream host, their shared clock/timers and state by
// path.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "error.hpp"
#include "native/compile.hpp"
#include "native/context.hpp"
#include "native/node.hpp"

namespace dmon::native {

/// Owns native root graphs. Single-threaded: one stream host drives it, with no GIL.
class engine {
 public:
  /// `clock` gives unix seconds (the Python runtime's clock on the other path).
  engine(std::function<double()> clock, sinks out, compile_options opts = {});
  ~engine();

  /// Compiles a root from its dmon.native.plan description; returns its number, or
  /// ec::unsupported saying which node keeps it in Python.
  result<size_t> add(
      const std::string& name, const json& desc,
      std::function<result<where_predicate>(const json&)> python_predicate = {},
      std::function<result<node_ptr>(const json&)> python_leaf = {},
      std::function<result<node_ptr>(const json&, std::vector<node_ptr>)> python_changed = {});

  /// Whether the node at `path` keeps its state here (false for paths in Python subtrees).
  bool owns(size_t root, const std::string& path) const;

  /// Whether the root calls into the host (Python predicates): then push() needs the GIL.
  bool calls_host(size_t root) const { return roots_[root].host_calls > 0; }
  /// How many nodes of the root call into the host.
  size_t host_calls(size_t root) const { return roots_[root].host_calls; }

  void push(size_t root, const event& e) { roots_[root].graph->push(e); }
  /// push() of an event the caller no longer needs: the graph may move it into a sink.
  void push_owned(size_t root, event&& e) { roots_[root].graph->push_owned(std::move(e)); }

  /// Runs the timers due at or before `now` (unix seconds).
  void tick(double now) { ctx_.tick(now); }

  /// The `_state()` of the node at the dmon.state path under `root` (the subtrees of
  /// regroups in by templates have paths too, as in dmon.state); null when it keeps none or
  /// no node has that path.
  json own_state(size_t root, const std::string& path) const;

  /// node::take_changed_state() of the node at `path` (what changed since the last call);
  /// null when nothing did or no node has that path.
  json take_changed_state(size_t root, const std::string& path);

  /// `_restore(data)` on the node at `path`; false when no node has that path;
  /// std::invalid_argument / json errors when `data` does not fit.
  bool restore_own(size_t root, const std::string& path, const json& data);

  /// The addresses of the regroup nodes under `root` (by templates included).
  std::vector<std::string> regroup_addresses(size_t root) const;
  /// Runs the children of the regroup node with `address` under `root` on `e`; false when
  /// the root has none.
  bool deliver_regrouped(size_t root, const std::string& address, const event& e);

  size_t size() const { return roots_.size(); }
  const std::string& name(size_t root) const { return roots_[root].name; }
  node& graph(size_t root) { return *roots_[root].graph; }
  context& ctx() { return ctx_; }

 private:
  struct root {
    std::string name;
    node_ptr graph;
    std::map<std::string, node*> paths;
    size_t host_calls = 0;
    std::map<std::string, node*> regroups;
  };
  context ctx_;
  compile_options opts_;
  std::vector<root> roots_;
};

}  // namespace dmon::native
