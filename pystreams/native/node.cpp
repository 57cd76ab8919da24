// The node base: recursive state in dmon.core.Stream's JSON shape, close, walk.
#include "native/node.hpp"

#include <stdexcept>

namespace dmon::native {

void node::push_list(const std::vector<event>&) {
  // The compiler only puts list-taking nodes below coalesce; reaching this is a compiler bug.
  throw std::logic_error("native stream '" + kind_ + "' got a list of events");
}

void node::close() {
  for (auto& [_, c] : branches())
    c->close();
}

void node::restore_own(const json&) {}

std::vector<node_ptr> node::fresh_all(const std::vector<node_ptr>& v, context& ctx) {
  std::vector<node_ptr> out;
  out.reserve(v.size());
  for (auto& c : v)
    out.push_back(c->fresh(ctx));
  return out;
}

std::vector<std::pair<std::string, node*>> node::branches() const {
  std::vector<std::pair<std::string, node*>> out;
  for (size_t i = 0; i < children_.size(); ++i)
    out.emplace_back(std::to_string(i), children_[i].get());
  return out;
}

json node::state() const {
  json own = own_state();
  json kids = json::array();
  bool any = false;
  for (auto& c : children_) {
    kids.push_back(c->state());
    any = any || !kids.back().is_null();
  }
  json extra = json::object();
  auto all = branches();
  for (size_t i = children_.size(); i < all.size(); ++i) {
    json s = all[i].second->state();
    if (!s.is_null())
      extra[all[i].first] = std::move(s);
  }
  if (own.is_null() && !any && extra.empty())
    return nullptr;
  json d = {{"s", std::move(own)}, {"c", std::move(kids)}};
  if (!extra.empty())
    d["x"] = std::move(extra);
  return d;
}

void node::restore(const json& data) {
  if (data.is_null() || !data.is_object())
    return;
  restore_own(data.contains("s") ? data["s"] : json(nullptr));
  if (auto it = data.find("c"); it != data.end() && it->is_array())
    for (size_t i = 0; i < children_.size() && i < it->size(); ++i)
      if (!(*it)[i].is_null())
        children_[i]->restore((*it)[i]);
  if (auto it = data.find("x"); it != data.end() && it->is_object()) {
    auto all = branches();
    for (size_t i = children_.size(); i < all.size(); ++i)
      if (auto x = it->find(all[i].first); x != it->end() && !x->is_null())
        all[i].second->restore(*x);
  }
}

namespace {

void walk_into(node& n, const std::string& path, std::vector<std::pair<std::string, node*>>& out) {
  out.emplace_back(path, &n);
  for (auto& [label, c] : n.branches())
    walk_into(*c, path + "/" + label + ":" + c->kind(), out);
}

}  // namespace

std::vector<std::pair<std::string, node*>> walk(node& root) {
  return walk(root, root.kind());
}

std::vector<std::pair<std::string, node*>> walk(node& n, const std::string& path) {
  std::vector<std::pair<std::string, node*>> out;
  walk_into(n, path, out);
  return out;
}

}  // namespace dmon::native
