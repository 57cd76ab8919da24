// The native regroup node: hands each event to the host's regroup sink, and runs its children
// on the events the owner of their new key receives.
#include "native/nodes.hpp"

namespace dmon::native {

namespace {

// dmon.streams._Regroup: without a regroup sink (tests, tools) events go straight to the
// children, as in plain Python; with one, they leave here and come back through deliver()
// on the owner of the new key, which finds this node by `address`.
class regroup_node final : public node {
 public:
  regroup_node(context& ctx, std::string address, std::vector<std::string> fields,
               std::vector<node_ptr> children)
      : node("regroup", std::move(children)),
        ctx_(ctx),
        address_(std::move(address)),
        fields_(std::move(fields)) {}

  void push(const event& e) override {
    auto& out = ctx_.out().regroup;
    if (out)
      out(address_, fields_, e);
    else
      emit(e);
  }
  void deliver(const event& e) const { emit(e); }
  const std::string& address() const { return address_; }

  node_ptr fresh(context& ctx) const override {
    return std::make_unique<regroup_node>(ctx, address_, fields_, fresh_children(ctx));
  }

 private:
  context& ctx_;
  std::string address_;
  std::vector<std::string> fields_;
};

}  // namespace

node_ptr make_regroup(context& ctx, std::string address, std::vector<std::string> fields,
                      std::vector<node_ptr> children) {
  return std::make_unique<regroup_node>(ctx, std::move(address), std::move(fields),
                                        std::move(children));
}

std::vector<std::pair<std::string, node*>> find_regroups(node& root) {
  std::vector<std::pair<std::string, node*>> out;
  std::vector<node*> stack{&root};
  while (!stack.empty()) {
    node* n = stack.back();
    stack.pop_back();
    if (auto* r = dynamic_cast<regroup_node*>(n))
      out.emplace_back(r->address(), n);
    for (auto& [_, c] : n->branches())
      stack.push_back(c);
    for (auto* t : n->templates())
      stack.push_back(t);
  }
  return out;
}

bool deliver_regrouped(node& n, const event& e) {
  auto* r = dynamic_cast<regroup_node*>(&n);
  if (!r)
    return false;
  r->deliver(e);
  return true;
}

}  // namespace dmon::native
