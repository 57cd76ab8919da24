// Native by: one fresh copy of the template nodes per distinct key, idle forks collected as in
// Python.
#include <algorithm>
#include <array>
#include <string_view>
#include <unordered_map>

#include "native/nodes.hpp"

namespace dmon::native {

namespace {

using key = std::vector<std::optional<std::string>>;

// A key being looked up: pointers into the event (null for an absent field), no copies.
constexpr size_t max_view_fields = 8;
struct key_view {
  std::array<const std::string*, max_view_fields> parts{};
  size_t n = 0;
};

size_t part_hash(const std::string* s) {
  return s ? std::hash<std::string_view>{}(*s) : size_t{0x51ed27};
}

struct key_hash {
  using is_transparent = void;
  size_t operator()(const key& k) const {
    size_t h = 0;
    for (auto& s : k)
      h = h * 1000003 ^ part_hash(s ? &*s : nullptr);
    return h;
  }
  size_t operator()(const key_view& k) const {
    size_t h = 0;
    for (size_t i = 0; i < k.n; ++i)
      h = h * 1000003 ^ part_hash(k.parts[i]);
    return h;
  }
};

struct key_eq {
  using is_transparent = void;
  bool operator()(const key& a, const key& b) const { return a == b; }
  bool operator()(const key& a, const key_view& b) const {
    if (a.size() != b.n)
      return false;
    for (size_t i = 0; i < b.n; ++i)
      if (a[i].has_value() != (b.parts[i] != nullptr) || (a[i] && *a[i] != *b.parts[i]))
        return false;
    return true;
  }
  bool operator()(const key_view& a, const key& b) const { return (*this)(b, a); }
};

class by_node final : public node {
 public:
  by_node(context& ctx, std::vector<std::string> fields, std::optional<number> idle,
          std::vector<node_ptr> templates)
      : node("by"),
        ctx_(ctx),
        fields_(std::move(fields)),
        idle_(idle),
        templates_(std::move(templates)) {}
  ~by_node() override {
    if (gc_)
      gc_->cancel();
  }

  void push(const event& e) override {
    fork& f = fork_of(e);
    context::owner_scope in(ctx_, f.tag.get());
    for (auto& c : f.kids)
      c->push(e);
  }
  void push_owned(event&& e) override {
    fork& f = fork_of(e);
    context::owner_scope in(ctx_, f.tag.get());
    push_all_owned(f.kids, std::move(e));
  }

  node_ptr fresh(context& ctx) const override {
    return make_by(ctx, fields_, idle_, fresh_all(templates_, ctx));
  }
  std::vector<node*> templates() const override {
    std::vector<node*> out;
    for (auto& t : templates_)
      out.push_back(t.get());
    return out;
  }

  void close() override {
    for (auto& [_, f] : forks_)
      for (auto& c : f->kids)
        c->close();
    forks_.clear();
    if (gc_)
      gc_->cancel();
    gc_.reset();
  }

  // {"forks": [[key, [kid states], seen], ...]} in fork creation order; null with no forks.
  json own_state() const override { return forks_state(false); }

  json take_changed_state() override {
    auto out = forks_state(true);
    for (auto& [_, f] : forks_)
      f->tag->dirty = false;
    return out;
  }

  json forks_state(bool changed_only) const {
    if (forks_.empty())
      return nullptr;
    std::vector<const std::pair<const key, std::unique_ptr<fork>>*> order;
    for (auto& p : forks_)
      if (!changed_only || p.second->tag->dirty)
        order.push_back(&p);
    if (order.empty())
      return nullptr;
    std::sort(order.begin(), order.end(),
              [](auto* a, auto* b) { return a->second->order < b->second->order; });
    json forks = json::array();
    for (auto* p : order) {
      json kids = json::array();
      for (auto& c : p->second->kids)
        kids.push_back(c->state());
      forks.push_back(json::array({key_json(p->first), std::move(kids), p->second->seen}));
    }
    return {{"forks", std::move(forks)}};
  }

  void restore_own(const json& data) override {
    if (!truthy(data))
      return;
    auto it = data.find("forks");
    if (it == data.end())
      return;
    for (auto& entry : *it) {
      key k = key_from_json(entry.at(0));
      // A fork that exists (a key's state imported from its previous owner) is replaced whole,
      // as in Python, so nothing of the local copy survives below it.
      if (auto found = forks_.find(k); found != forks_.end()) {
        for (auto& c : found->second->kids)
          c->close();
        forks_.erase(found);
      }
      fork& f = make_fork(std::move(k));
      f.seen = entry.at(2).get<double>();
      context::owner_scope in(ctx_, f.tag.get());
      auto& states = entry.at(1);
      for (size_t i = 0; i < f.kids.size() && i < states.size(); ++i)
        if (!states[i].is_null())
          f.kids[i]->restore(states[i]);
    }
  }

  /// Forks alive (for tests).
  size_t forks() const { return forks_.size(); }

 private:
  struct fork {
    std::vector<node_ptr> kids;
    double seen = 0.0;
    uint64_t order = 0;
    /// Changed since the last replication round (new forks are).
    touch_ptr tag;
  };

  // The fork of `e`'s key (made on its first event), marked as seen and changed.
  fork& fork_of(const event& e) {
    fork* found = nullptr;
    if (fields_.size() <= max_view_fields) {  // look up without copying the key
      key_view v;
      for (auto& f : fields_)
        v.parts[v.n++] = e.find_string(f);
      auto it = forks_.find(v);
      if (it != forks_.end())
        found = it->second.get();
    }
    if (!found) {
      key k;
      k.reserve(fields_.size());
      for (auto& f : fields_) {
        const std::string* v = e.find_string(f);
        k.push_back(v ? std::optional<std::string>{*v} : std::nullopt);
      }
      auto it = forks_.find(k);
      found = it != forks_.end() ? it->second.get() : &make_fork(std::move(k));
    }
    fork& f = *found;
    if (idle_)
      f.seen = ctx_.now();
    f.tag->mark();
    return f;
  }

  fork& make_fork(key k) {
    auto f = std::make_unique<fork>();
    f->tag = std::make_shared<touch>();
    f->tag->up = ctx_.owner();
    {
      context::owner_scope in(ctx_, f->tag.get());
      f->kids = fresh_all(templates_, ctx_);
    }
    f->order = next_order_++;
    auto& ref = *f;
    forks_.emplace(std::move(k), std::move(f));
    if (idle_ && !gc_)
      gc_ = ctx_.every(idle_->as_double(), idle_->as_double(), [this] { collect(); });
    return ref;
  }

  void collect() {
    double cutoff = ctx_.now() - idle_->as_double();
    for (auto it = forks_.begin(); it != forks_.end();) {
      if (it->second->seen <= cutoff) {
        for (auto& c : it->second->kids)
          c->close();
        it = forks_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Python keeps one field's key as the value itself and several as a list.
  json key_json(const key& k) const {
    auto one = [](const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); };
    if (k.size() == 1)
      return one(k[0]);
    json out = json::array();
    for (auto& s : k)
      out.push_back(one(s));
    return out;
  }
  key key_from_json(const json& j) const {
    auto one = [](const json& v) -> std::optional<std::string> {
      if (v.is_null())
        return std::nullopt;
      if (!v.is_string())
        throw std::invalid_argument("by state: a key part is not a string: " + v.dump());
      return v.get<std::string>();
    };
    key k;
    if (fields_.size() == 1) {
      k.push_back(one(j));
    } else {
      if (!j.is_array() || j.size() != fields_.size())
        throw std::invalid_argument("by state: key " + j.dump() + " does not match the fields");
      for (auto& v : j)
        k.push_back(one(v));
    }
    return k;
  }

  context& ctx_;
  std::vector<std::string> fields_;
  std::optional<number> idle_;
  std::vector<node_ptr> templates_;
  std::unordered_map<key, std::unique_ptr<fork>, key_hash, key_eq> forks_;
  uint64_t next_order_ = 0;
  timer_ptr gc_;
};

}  // namespace

node_ptr make_by(context& ctx, std::vector<std::string> fields, std::optional<number> idle,
                 std::vector<node_ptr> templates) {
  return std::make_unique<by_node>(ctx, std::move(fields), idle, std::move(templates));
}

}  // namespace dmon::native
