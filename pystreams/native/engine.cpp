// The native engine: compiled roots, their dmon.state paths, and the shared timer heap.
#include "native/engine.hpp"

namespace dmon::native {

engine::engine(std::function<double()> clock, sinks out, compile_options opts)
    : ctx_(std::move(clock), std::move(out)), opts_(opts) {}

engine::~engine() {
  for (auto& r : roots_)
    r.graph->close();
}

result<size_t> engine::add(
    const std::string& name, const json& desc,
    std::function<result<where_predicate>(const json&)> python_predicate,
    std::function<result<node_ptr>(const json&)> python_leaf,
    std::function<result<node_ptr>(const json&, std::vector<node_ptr>)> python_changed) {
  auto opts = opts_;
  opts.python_predicate = std::move(python_predicate);
  opts.python_leaf = std::move(python_leaf);
  opts.python_changed = std::move(python_changed);
  size_t calls = 0;
  auto g = compile(desc, ctx_, opts, &calls);
  if (!g)
    return g.error();
  root r{name, std::move(*g), {}, calls, {}};
  for (auto& [path, n] : walk(*r.graph))
    r.paths.emplace(path, n);  // the first node of a path wins, as in dmon.state
  for (auto& [address, n] : find_regroups(*r.graph)) {
    r.regroups.emplace(address, n);
    // A regroup in a by() template receives what the forks' copies send to the owner of their
    // key and keeps that state: its subtree has paths too, as dmon.state gives them (the
    // address is "<root>/<path>").
    if (address.size() > name.size() && address.starts_with(name + "/")) {
      auto path = address.substr(name.size() + 1);
      if (!r.paths.contains(path))
        for (auto& [p, m] : walk(*n, path))
          r.paths.emplace(p, m);
    }
  }
  roots_.push_back(std::move(r));
  return roots_.size() - 1;
}

bool engine::owns(size_t root, const std::string& path) const {
  auto& paths = roots_.at(root).paths;
  auto it = paths.find(path);
  return it != paths.end() && !it->second->hosted();
}

json engine::own_state(size_t root, const std::string& path) const {
  auto& paths = roots_.at(root).paths;
  auto it = paths.find(path);
  return it == paths.end() ? json(nullptr) : it->second->own_state();
}

json engine::take_changed_state(size_t root, const std::string& path) {
  auto& paths = roots_.at(root).paths;
  auto it = paths.find(path);
  return it == paths.end() ? json(nullptr) : it->second->take_changed_state();
}

bool engine::restore_own(size_t root, const std::string& path, const json& data) {
  auto& paths = roots_.at(root).paths;
  auto it = paths.find(path);
  if (it == paths.end())
    return false;
  it->second->restore_own(data);
  return true;
}

std::vector<std::string> engine::regroup_addresses(size_t root) const {
  std::vector<std::string> out;
  for (auto& [address, _] : roots_.at(root).regroups)
    out.push_back(address);
  return out;
}

bool engine::deliver_regrouped(size_t root, const std::string& address, const event& e) {
  auto& regroups = roots_.at(root).regroups;
  auto it = regroups.find(address);
  return it != regroups.end() && native::deliver_regrouped(*it->second, e);
}

}  // namespace dmon::native
