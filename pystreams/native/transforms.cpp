// Native transforms and sinks: with_/default, tag/untag, scale, index, store, publish.
#include <algorithm>
#include <cmath>

#include "native/nodes.hpp"

namespace dmon::native {

namespace {

std::optional<std::string>* string_slot(event& e, const std::string& name) {
  if (name == "host")
    return &e.host;
  if (name == "service")
    return &e.service;
  if (name == "state")
    return &e.state;
  if (name == "description")
    return &e.description;
  return nullptr;
}

// dmon.events.setter on an event the node owns; the compiler admits only values that
// the Python path would also hand to the index unchanged.
void set_field(event& e, const std::string& name, const field_value& v) {
  using T = field_value::type;
  bool none = v.t == T::none;
  if (auto* slot = string_slot(e, name)) {
    if (none)
      slot->reset();
    else
      *slot = v.text;
  } else if (name == "time") {
    if (none)
      e.time_us.reset();
    else
      e.time_us = static_cast<int64_t>(std::llround(v.num.as_double() * 1e6));
  } else if (name == "ttl") {
    if (none)
      e.ttl.reset();
    else
      e.ttl = v.num.as_double();
  } else if (name == "metric") {
    if (none)
      e.metric = std::monostate{};
    else if (v.num.is_int)
      e.metric = v.num.i;
    else
      e.metric = v.num.d;
  } else if (name == "tags") {
    e.tags = none ? std::vector<std::string>{} : v.tags;
  } else {
    auto it = std::find_if(e.attributes.begin(), e.attributes.end(),
                           [&](auto& a) { return a.key == name; });
    if (none) {
      if (it != e.attributes.end())
        e.attributes.erase(it);
      return;
    }
    std::string text = v.t == T::text      ? v.text
                       : v.t == T::boolean ? (v.boolean ? "True" : "False")
                                           : std::to_string(v.num.i);
    if (it != e.attributes.end())
      it->value = std::move(text);
    else
      e.attributes.push_back({name, std::move(text)});
  }
}

// getter(name)(event) is None.
bool is_missing(const event& e, const std::string& name) {
  if (name == "time")
    return !e.time_us;
  if (name == "ttl")
    return !e.ttl;
  if (name == "metric")
    return !e.has_metric();
  return e.find_string(name) == nullptr;
}

class with_node final : public node {
 public:
  with_node(bool only_missing, std::vector<field_assignment> fields, std::vector<node_ptr> children)
      : node(only_missing ? "default" : "with", std::move(children)),
        only_missing_(only_missing),
        fields_(std::move(fields)) {}

  void push(const event& e) override {
    if (fields_.empty()) {
      emit(e);
      return;
    }
    event copy = e;
    apply(copy);
    emit_owned(std::move(copy));
  }
  void push_owned(event&& e) override {
    apply(e);
    emit_owned(std::move(e));
  }
  void push_list(const std::vector<event>& es) override {
    if (fields_.empty()) {
      emit_list(es);
      return;
    }
    std::vector<event> out;
    out.reserve(es.size());
    for (auto& e : es)
      apply(out.emplace_back(e));
    emit_list(out);
  }
  bool takes_lists() const override {
    return std::all_of(children_.begin(), children_.end(),
                       [](auto& c) { return c->takes_lists(); });
  }
  node_ptr fresh(context& ctx) const override {
    return make_with(only_missing_, fields_, fresh_children(ctx));
  }

 private:
  void apply(event& e) const {
    for (auto& f : fields_) {
      if (only_missing_ && (f.value.t == field_value::type::none || !is_missing(e, f.name)))
        continue;
      set_field(e, f.name, f.value);
    }
  }

  bool only_missing_;
  std::vector<field_assignment> fields_;
};

class tag_node final : public node {
 public:
  tag_node(bool add, std::vector<std::string> tags, std::vector<node_ptr> children)
      : node(add ? "tag" : "untag", std::move(children)), add_(add), tags_(std::move(tags)) {}

  void push(const event& e) override { push_owned(event{e}); }
  void push_owned(event&& e) override {
    auto has = [](const std::vector<std::string>& v, const std::string& t) {
      return std::find(v.begin(), v.end(), t) != v.end();
    };
    std::vector<std::string> out;
    if (add_) {
      // list(dict.fromkeys(new + old)): new tags first, first occurrence wins.
      out.reserve(tags_.size() + e.tags.size());
      for (auto* src : {&tags_, &e.tags})
        for (auto& t : *src)
          if (!has(out, t))
            out.push_back(t);
    } else {
      for (auto& t : e.tags)
        if (!has(tags_, t))
          out.push_back(t);
    }
    e.tags = std::move(out);
    emit_owned(std::move(e));
  }
  node_ptr fresh(context& ctx) const override { return make_tag(add_, tags_, fresh_children(ctx)); }

 private:
  bool add_;
  std::vector<std::string> tags_;
};

class scale_node final : public node {
 public:
  scale_node(number factor, std::vector<node_ptr> children)
      : node("scale", std::move(children)), factor_(factor) {}

  void push(const event& in) override {
    if (!in.has_metric()) {
      emit(in);
      return;
    }
    push_owned(event{in});
  }
  void push_owned(event&& e) override {
    if (!e.has_metric()) {
      emit_owned(std::move(e));
      return;
    }
    if (auto* i = std::get_if<int64_t>(&e.metric); i && factor_.is_int) {
      int64_t r;
      if (!__builtin_mul_overflow(*i, factor_.i, &r))
        e.metric = r;
      else  // Python's int grows; the index reads it back as the nearest double
        e.metric = static_cast<double>(static_cast<__int128>(*i) * factor_.i);
    } else {
      double m = std::holds_alternative<int64_t>(e.metric)
                     ? static_cast<double>(std::get<int64_t>(e.metric))
                     : std::get<double>(e.metric);
      e.metric = m * factor_.as_double();
    }
    emit_owned(std::move(e));
  }
  node_ptr fresh(context& ctx) const override { return make_scale(factor_, fresh_children(ctx)); }

 private:
  number factor_;
};

class sink_node final : public node {
 public:
  enum class target { index, store, publish };
  sink_node(context& ctx, target t, std::string topic)
      : node(t == target::index   ? "index"
             : t == target::store ? "store"
                                  : "publish"),
        ctx_(ctx),
        target_(t),
        topic_(std::move(topic)) {}

  void push(const event& e) override {
    if (target_ == target::publish)
      ctx_.out().publish(topic_, e);
    else
      push_owned(event{e});
  }
  // The sinks keep the event: the one this node was handed, not a copy of it.
  void push_owned(event&& e) override {
    switch (target_) {
      case target::index:
        ctx_.out().index(std::move(e));
        return;
      case target::publish:
        ctx_.out().publish(topic_, e);
        return;
      case target::store:
        if (!e.time_us)  // Runtime.store stamps events without time with now()
          e.time_us = static_cast<int64_t>(std::llround(ctx_.now() * 1e6));
        ctx_.out().store(std::move(e));
        return;
    }
  }
  void push_list(const std::vector<event>& es) override {
    for (auto& e : es)
      push(e);
  }
  bool takes_lists() const override { return true; }
  node_ptr fresh(context& ctx) const override {
    return std::make_unique<sink_node>(ctx, target_, topic_);
  }

 private:
  context& ctx_;
  target target_;
  std::string topic_;
};

}  // namespace

node_ptr make_with(bool only_missing, std::vector<field_assignment> fields,
                   std::vector<node_ptr> children) {
  return std::make_unique<with_node>(only_missing, std::move(fields), std::move(children));
}
node_ptr make_tag(bool add, std::vector<std::string> tags, std::vector<node_ptr> children) {
  return std::make_unique<tag_node>(add, std::move(tags), std::move(children));
}
node_ptr make_scale(number factor, std::vector<node_ptr> children) {
  return std::make_unique<scale_node>(factor, std::move(children));
}
node_ptr make_index(context& ctx) {
  return std::make_unique<sink_node>(ctx, sink_node::target::index, "");
}
node_ptr make_store(context& ctx) {
  return std::make_unique<sink_node>(ctx, sink_node::target::store, "");
}
node_ptr make_publish(context& ctx, std::string topic) {
  return std::make_unique<sink_node>(ctx, sink_node::target::publish, std::move(topic));
}

}  // namespace dmon::native
