// Native filters: where, tagged_all/any, over/under, expired/not_expired, sdo (passing events
// unchanged).
#include <algorithm>

#include "native/nodes.hpp"

namespace dmon::native {

bool truthy(const json& j) {
  if (j.is_null())
    return false;
  if (j.is_boolean())
    return j.get<bool>();
  if (j.is_number_integer())
    return j.get<int64_t>() != 0;
  if (j.is_number_float())
    return j.get<double>() != 0;
  if (j.is_string() || j.is_array() || j.is_object())
    return !j.empty();
  return true;
}

namespace {

class where_node final : public node {
 public:
  where_node(std::optional<query::predicate> pred, std::optional<bool> always,
             std::vector<node_ptr> children, std::vector<node_ptr> else_children)
      : node("where", std::move(children)),
        pred_(std::move(pred)),
        always_(always),
        else_(std::move(else_children)) {}

  void push(const event& e) override {
    if (passes(e)) {
      emit(e);
    } else {
      for (auto& c : else_)
        c->push(e);
    }
  }
  void push_owned(event&& e) override {
    if (passes(e))
      emit_owned(std::move(e));
    else
      push_all_owned(else_, std::move(e));
  }
  node_ptr fresh(context& ctx) const override {
    return make_where(pred_, always_, fresh_children(ctx), fresh_all(else_, ctx));
  }
  std::vector<std::pair<std::string, node*>> branches() const override {
    auto out = node::branches();
    for (size_t i = 0; i < else_.size(); ++i)
      out.emplace_back("else." + std::to_string(i), else_[i].get());
    return out;
  }

 private:
  bool passes(const event& e) const { return always_ ? *always_ : pred_->matches(e); }

  std::optional<query::predicate> pred_;
  std::optional<bool> always_;
  std::vector<node_ptr> else_;
};

class where_fn_node final : public node {
 public:
  where_fn_node(where_predicate pred, std::vector<node_ptr> children,
                std::vector<node_ptr> else_children, std::string kind = "where")
      : node(std::move(kind), std::move(children)),
        pred_(std::move(pred)),
        else_(std::move(else_children)) {}

  void push(const event& e) override {
    auto ok = pred_(e);
    if (!ok)
      return;
    if (*ok) {
      emit(e);
    } else {
      for (auto& c : else_)
        c->push(e);
    }
  }
  void push_owned(event&& e) override {
    auto ok = pred_(e);
    if (!ok)
      return;
    if (*ok)
      emit_owned(std::move(e));
    else
      push_all_owned(else_, std::move(e));
  }
  node_ptr fresh(context& ctx) const override {
    return std::make_unique<where_fn_node>(pred_, fresh_children(ctx), fresh_all(else_, ctx),
                                           kind_);
  }
  std::vector<std::pair<std::string, node*>> branches() const override {
    auto out = node::branches();
    for (size_t i = 0; i < else_.size(); ++i)
      out.emplace_back("else." + std::to_string(i), else_[i].get());
    return out;
  }

 private:
  where_predicate pred_;
  std::vector<node_ptr> else_;
};

class match_node final : public node {
 public:
  match_node(std::string field, std::optional<std::string> value, std::vector<node_ptr> children)
      : node("match", std::move(children)), field_(std::move(field)), value_(std::move(value)) {}

  void push(const event& e) override {
    if (matches(e))
      emit(e);
  }
  void push_owned(event&& e) override {
    if (matches(e))
      emit_owned(std::move(e));
  }
  node_ptr fresh(context& ctx) const override {
    return make_match_equals(field_, value_, fresh_children(ctx));
  }

 private:
  bool matches(const event& e) const {
    const std::string* v = e.find_string(field_);
    return value_ ? (v && *v == *value_) : v == nullptr;
  }

  std::string field_;
  std::optional<std::string> value_;
};

// _Split: the first clause that holds gets the event; a predicate that raises drops it.
class split_node final : public node {
 public:
  split_node(std::vector<split_clause> clauses, std::vector<node_ptr> children)
      : node("split", std::move(children)), clauses_(std::move(clauses)) {}

  void push(const event& e) override {
    if (auto* to = choose(e))
      to->push(e);
  }
  void push_owned(event&& e) override {
    if (auto* to = choose(e))
      to->push_owned(std::move(e));
  }
  node_ptr fresh(context& ctx) const override { return make_split(clauses_, fresh_children(ctx)); }

 private:
  // The child of the first clause that holds; null when none does or a predicate raised.
  node* choose(const event& e) const {
    for (size_t i = 0; i < clauses_.size(); ++i) {
      auto& c = clauses_[i];
      if (c.query) {
        if (!c.query->matches(e))
          continue;
      } else if (c.fn) {
        auto ok = c.fn(e);
        if (!ok)
          return nullptr;
        if (!*ok)
          continue;
      }
      return children_[i].get();
    }
    return nullptr;
  }

  std::vector<split_clause> clauses_;
};

class tagged_node final : public node {
 public:
  tagged_node(bool all, std::vector<std::string> tags, std::vector<node_ptr> children)
      : node(all ? "tagged_all" : "tagged_any", std::move(children)),
        all_(all),
        tags_(std::move(tags)) {}

  void push(const event& e) override {
    if (passes(e))
      emit(e);
  }
  void push_owned(event&& e) override {
    if (passes(e))
      emit_owned(std::move(e));
  }
  node_ptr fresh(context& ctx) const override {
    return make_tagged(all_, tags_, fresh_children(ctx));
  }

 private:
  bool passes(const event& e) const {
    auto has = [&](const std::string& t) {
      return std::find(e.tags.begin(), e.tags.end(), t) != e.tags.end();
    };
    // frozenset.issubset / not isdisjoint: an empty tag set is a subset of anything.
    return all_ ? std::all_of(tags_.begin(), tags_.end(), has)
                : std::any_of(tags_.begin(), tags_.end(), has);
  }

  bool all_;
  std::vector<std::string> tags_;
};

class threshold_node final : public node {
 public:
  threshold_node(bool above, number x, std::vector<node_ptr> children)
      : node(above ? "over" : "under", std::move(children)), above_(above), x_(x) {}

  void push(const event& e) override {
    if (passes(e))
      emit(e);
  }
  void push_owned(event&& e) override {
    if (passes(e))
      emit_owned(std::move(e));
  }
  node_ptr fresh(context& ctx) const override {
    return make_threshold(above_, x_, fresh_children(ctx));
  }

 private:
  bool passes(const event& e) const {
    if (!e.has_metric())
      return false;
    int c = compare(e.metric, x_);
    return above_ ? c == 1 : c == -1;
  }

  bool above_;
  number x_;
};

class expired_node final : public node {
 public:
  expired_node(bool want, context& ctx, std::vector<node_ptr> children)
      : node(want ? "expired" : "not_expired", std::move(children)), want_(want), ctx_(ctx) {}

  void push(const event& e) override {
    if (is_expired(e) == want_)
      emit(e);
  }
  void push_owned(event&& e) override {
    if (is_expired(e) == want_)
      emit_owned(std::move(e));
  }
  node_ptr fresh(context& ctx) const override {
    return make_expired(want_, ctx, fresh_children(ctx));
  }

 private:
  // dmon.events.is_expired against the runtime's clock.
  bool is_expired(const event& e) const {
    if (e.state && *e.state == "expired")
      return true;
    if (!e.time_us)
      return false;
    double ttl = e.ttl ? *e.ttl : 60.0;
    return ctx_.now() - static_cast<double>(*e.time_us) / 1e6 > ttl;
  }

  bool want_;
  context& ctx_;
};

class sdo_node final : public node {
 public:
  explicit sdo_node(std::vector<node_ptr> children) : node("sdo", std::move(children)) {}
  void push(const event& e) override { emit(e); }
  void push_owned(event&& e) override { emit_owned(std::move(e)); }
  void push_list(const std::vector<event>& es) override { emit_list(es); }
  bool takes_lists() const override {
    return std::all_of(children_.begin(), children_.end(),
                       [](auto& c) { return c->takes_lists(); });
  }
  node_ptr fresh(context& ctx) const override { return make_sdo(fresh_children(ctx)); }
};

}  // namespace

node_ptr make_where(std::optional<query::predicate> pred, std::optional<bool> always,
                    std::vector<node_ptr> children, std::vector<node_ptr> else_children) {
  return std::make_unique<where_node>(std::move(pred), always, std::move(children),
                                      std::move(else_children));
}
node_ptr make_where_fn(where_predicate pred, std::vector<node_ptr> children,
                       std::vector<node_ptr> else_children) {
  return std::make_unique<where_fn_node>(std::move(pred), std::move(children),
                                         std::move(else_children));
}
node_ptr make_match_equals(std::string field, std::optional<std::string> value,
                           std::vector<node_ptr> children) {
  return std::make_unique<match_node>(std::move(field), std::move(value), std::move(children));
}
node_ptr make_match_fn(where_predicate pred, std::vector<node_ptr> children) {
  return std::make_unique<where_fn_node>(std::move(pred), std::move(children),
                                         std::vector<node_ptr>{}, "match");
}
node_ptr make_split(std::vector<split_clause> clauses, std::vector<node_ptr> children) {
  return std::make_unique<split_node>(std::move(clauses), std::move(children));
}
node_ptr make_tagged(bool all, std::vector<std::string> tags, std::vector<node_ptr> children) {
  return std::make_unique<tagged_node>(all, std::move(tags), std::move(children));
}
node_ptr make_threshold(bool above, number x, std::vector<node_ptr> children) {
  return std::make_unique<threshold_node>(above, x, std::move(children));
}
node_ptr make_expired(bool want, context& ctx, std::vector<node_ptr> children) {
  return std::make_unique<expired_node>(want, ctx, std::move(children));
}
node_ptr make_sdo(std::vector<node_ptr> children) {
  return std::make_unique<sdo_node>(std::move(children));
}

}  // namespace dmon::native
