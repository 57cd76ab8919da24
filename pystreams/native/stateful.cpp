// Native stateful streams: rate, changed, throttle, coalesce; state JSON as their Python classes
// keep it.
#include <cmath>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "native/nodes.hpp"

namespace dmon::native {

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

double secs(int64_t us) {
  return static_cast<double>(us) / 1e6;
}

int64_t micros(double s) {
  return static_cast<int64_t>(std::llround(s * 1e6));
}

// Python's float %: the result takes the divisor's sign.
double py_mod(double a, double b) {
  double r = std::fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}

json opt_event(const std::optional<event>& e) {
  return e ? event_to_json(*e) : json(nullptr);
}

std::optional<event> event_or_none(const json& j) {
  if (j.is_null())
    return std::nullopt;
  auto e = event_from_json(j);
  if (!e)
    throw std::invalid_argument(e.error().message);
  return std::move(*e);
}

// dmon.streams._Periodic: on the first event start calling fn every interval (after
// delay); stop on an expired event or once the last event's time + ttl has passed.
class periodic {
 public:
  periodic(context& ctx, double interval, double delay)
      : ctx_(ctx), interval_(interval), delay_(delay) {}
  ~periodic() { stop(); }

  template <class F>
  void update(const event& e, F&& fn) {
    bool dead;
    if (!e.time_us) {
      expires_at_ = inf;
      dead = e.state && *e.state == "expired";
    } else {
      double t = secs(*e.time_us);
      expires_at_ = e.ttl ? t + *e.ttl : inf;
      double ttl = e.ttl ? *e.ttl : 60.0;
      dead = (e.state && *e.state == "expired") || ctx_.now() - t > ttl;
    }
    if (dead)
      stop();
    else if (!task_)
      start(delay_, std::forward<F>(fn));
  }
  template <class F>
  void start(double delay, F fn) {
    task_ = ctx_.every(interval_, delay, [this, fn = std::move(fn)] {
      if (expires_at_ < ctx_.now())
        stop();
      else
        fn();
    });
  }
  void stop() {
    if (task_) {
      task_->cancel();
      task_.reset();
    }
  }
  json state() const {
    return {{"running", task_ != nullptr},
            {"expires_at", std::isinf(expires_at_) ? json(nullptr) : json(expires_at_)}};
  }
  template <class F>
  void restore(const json& data, F fn) {
    auto it = data.find("expires_at");
    expires_at_ = it != data.end() && truthy(*it) ? it->get<double>() : inf;
    auto r = data.find("running");
    if (r != data.end() && truthy(*r) && !task_)
      start(interval_, std::move(fn));
  }

 private:
  context& ctx_;
  double interval_, delay_;
  double expires_at_ = inf;
  timer_ptr task_;
};

class rate_node final : public node {
 public:
  rate_node(context& ctx, number interval, std::vector<node_ptr> children)
      : node("rate", std::move(children)),
        ctx_(ctx),
        interval_(interval),
        periodic_(ctx, interval.as_double(), interval.as_double()) {}

  void push(const event& e) override {
    if (e.has_metric()) {
      last_ = e;
      raw_ = e.ttl.has_value();
      number m;
      if (auto* i = std::get_if<int64_t>(&e.metric)) {
        m.i = *i;
      } else {
        m.is_int = false;
        m.d = std::get<double>(e.metric);
      }
      sum_ = sum_ + m;
    }
    periodic_.update(e, [this] { tick(); });
  }
  node_ptr fresh(context& ctx) const override {
    return make_rate(ctx, interval_, fresh_children(ctx));
  }
  void close() override {
    periodic_.stop();
    node::close();
  }
  json own_state() const override {
    auto* self = const_cast<rate_node*>(this);  // _state() settles the lazy ttl, as Python's does
    auto last = self->settled_last();
    return {{"sum", sum_.to_json()}, {"last", opt_event(last)}, {"periodic", periodic_.state()}};
  }
  void restore_own(const json& data) override {
    if (!truthy(data))
      return;
    auto s = number::from_json(data.at("sum"));
    if (!s)
      throw std::invalid_argument("rate state: 'sum' is not a number");
    sum_ = *s;
    last_ = event_or_none(data.at("last"));
    raw_ = false;
    periodic_.restore(data.at("periodic"), [this] { tick(); });
  }

 private:
  // _Rate._last: the ttl of the event kept raw gets the interval added once.
  const std::optional<event>& settled_last() {
    if (raw_) {
      *last_->ttl = *last_->ttl + interval_.as_double();
      raw_ = false;
    }
    return last_;
  }

  void tick() {
    number total = sum_;
    sum_ = number{};
    auto& last = settled_last();
    event e = last ? *last : event{};
    // total / interval: Python's true division of two ints or floats.
    e.metric = total.as_double() / interval_.as_double();
    double now = ctx_.now();
    e.time_us = micros(now);
    if (e.ttl)
      e.ttl = *e.ttl - interval_.as_double();
    last_ = e;
    emit_owned(std::move(e));
  }

  context& ctx_;
  number interval_;
  number sum_;
  std::optional<event> last_;
  bool raw_ = false;
  periodic periodic_;
};

class changed_node final : public node {
 public:
  changed_node(std::string field, std::optional<std::string> init, std::vector<node_ptr> children)
      : node("changed", std::move(children)),
        field_(std::move(field)),
        init_(init),
        prev_value_(std::move(init)) {}

  void push(const event& e) override {
    if (remember(e))
      emit(e);
  }
  void push_owned(event&& e) override {
    if (remember(e))
      emit_owned(std::move(e));
  }
  node_ptr fresh(context& ctx) const override {
    return make_changed(field_, init_, fresh_children(ctx));
  }
  json own_state() const override {
    return {{"value", prev_value_ ? json(*prev_value_) : json(nullptr)},
            {"event", opt_event(prev_event_)}};
  }
  void restore_own(const json& data) override {
    if (!truthy(data))
      return;
    auto& v = data.at("value");
    if (!v.is_null() && !v.is_string())
      throw std::invalid_argument("changed state: 'value' is not a string");
    prev_value_ = v.is_null() ? std::nullopt : std::optional<std::string>{v.get<std::string>()};
    prev_event_ = event_or_none(data.at("event"));
  }

 private:
  // Keeps `e` as the previous event; returns whether its field's value differs from the last.
  bool remember(const event& e) {
    const std::string* v = e.find_string(field_);
    std::optional<std::string> value = v ? std::optional<std::string>{*v} : std::nullopt;
    bool differ = prev_value_ != value;
    prev_value_ = std::move(value);
    prev_event_ = e;
    return differ;
  }

  std::string field_;
  std::optional<std::string> init_;
  std::optional<std::string> prev_value_;
  std::optional<event> prev_event_;
};

// _Throttle on _PartTimeSimple: windows of dt on a grid anchored at creation; the first
// event of a window schedules its end; the first n events of a window pass.
class throttle_node final : public node {
 public:
  throttle_node(context& ctx, int64_t n, number dt, double anchor, std::vector<node_ptr> children)
      : node("throttle", std::move(children)), ctx_(ctx), n_(n), dt_(dt), anchor_(anchor) {}
  ~throttle_node() override { cancel(); }

  void push(const event& e) override {
    if (admit())
      emit(e);
  }
  void push_owned(event&& e) override {
    if (admit())
      emit_owned(std::move(e));
  }
  node_ptr fresh(context& ctx) const override {
    return make_throttle(ctx, n_, dt_, ctx.now(), fresh_children(ctx));
  }
  void close() override {
    cancel();
    node::close();
  }
  json own_state() const override {
    return {{"window", window_},
            {"scheduled", scheduled_},
            {"start", start_},
            {"end", end_},
            {"anchor", anchor_}};
  }
  void restore_own(const json& data) override {
    if (!truthy(data))
      return;
    window_ = data.at("window").get<int64_t>();
    anchor_ = data.at("anchor").get<double>();
    start_ = data.at("start").get<double>();
    end_ = data.at("end").get<double>();
    scheduled_ = truthy(data.at("scheduled"));
    if (scheduled_)
      schedule();
  }

 private:
  // Counts the event into its window (opening one when none is); true while within n.
  bool admit() {
    ++window_;
    if (!scheduled_) {
      double now = ctx_.now();
      double dt = dt_.as_double();
      end_ = now + (dt - py_mod(now - anchor_, dt));
      start_ = end_ - dt;
      scheduled_ = true;
      schedule();
    }
    return window_ <= n_;
  }
  void schedule() {
    cancel();
    timer_ = ctx_.at(end_, [this] {
      window_ = 0;
      scheduled_ = false;
    });
  }
  void cancel() {
    if (timer_)
      timer_->cancel();
  }

  context& ctx_;
  int64_t n_;
  number dt_;
  double anchor_;
  int64_t window_ = 0;
  bool scheduled_ = false;
  double start_ = 0, end_ = 0;
  timer_ptr timer_;
};

class coalesce_node final : public node {
 public:
  coalesce_node(context& ctx, number dt, std::vector<node_ptr> children)
      : node("coalesce", std::move(children)),
        ctx_(ctx),
        dt_(dt),
        periodic_(ctx, dt.as_double(), 0) {}

  void push(const event& e) override {
    put(e);
    periodic_.update(e, [this] { flush(); });
  }
  node_ptr fresh(context& ctx) const override {
    return make_coalesce(ctx, dt_, fresh_children(ctx));
  }
  void close() override {
    periodic_.stop();
    node::close();
  }
  json own_state() const override {
    json events = json::array();
    for (auto& e : table_)
      events.push_back(event_to_json(e));
    return {{"events", std::move(events)}, {"periodic", periodic_.state()}};
  }
  // Only the entries put since the last call (what a replication round sends per key).
  json take_changed_state() override {
    json events = json::array();
    for (auto& e : table_)
      if (changed_.count(key{e.service, e.host}))
        events.push_back(event_to_json(e));
    changed_.clear();
    if (events.empty())
      return nullptr;
    return {{"events", std::move(events)}, {"periodic", periodic_.state()}};
  }
  void restore_own(const json& data) override {
    if (!truthy(data))
      return;
    if (!data.contains("periodic")) {
      // Some keys' entries (dmon.state.split_keys): merged into the table, the timer kept
      // (and started as a first event would start it), as in Python.
      for (auto& j : data.at("events")) {
        auto e = event_from_json(j);
        if (!e)
          throw std::invalid_argument(e.error().message);
        put(*e);
        periodic_.update(*e, [this] { flush(); });
      }
      return;
    }
    table_.clear();
    pos_.clear();
    for (auto& j : data.at("events")) {
      auto e = event_from_json(j);
      if (!e)
        throw std::invalid_argument(e.error().message);
      put(*e);
    }
    periodic_.restore(data.at("periodic"), [this] { flush(); });
  }

 private:
  using key = std::pair<std::optional<std::string>, std::optional<std::string>>;
  struct key_hash {
    size_t operator()(const key& k) const {
      auto h = [](const std::optional<std::string>& s) {
        return s ? std::hash<std::string>{}(*s) : size_t{0x9e3779b9};
      };
      return h(k.first) * 31 + h(k.second);
    }
  };

  // A dict keyed (service, host): a new key goes last, an old key keeps its place.
  void put(const event& e) {
    key k{e.service, e.host};
    changed_.insert(k);
    auto it = pos_.find(k);
    if (it != pos_.end()) {
      table_[it->second] = e;
    } else {
      pos_.emplace(std::move(k), table_.size());
      table_.push_back(e);
    }
  }

  void flush() {
    double now = ctx_.now();
    std::vector<event> out = table_;
    std::vector<event> kept;
    kept.reserve(table_.size());
    pos_.clear();
    for (auto& e : table_) {
      bool expired = (e.state && *e.state == "expired") ||
                     (e.time_us && now - secs(*e.time_us) > (e.ttl ? *e.ttl : 60.0));
      if (!expired) {
        pos_.emplace(key{e.service, e.host}, kept.size());
        kept.push_back(std::move(e));
      }
    }
    table_ = std::move(kept);
    emit_list(out);
  }

  context& ctx_;
  number dt_;
  std::vector<event> table_;
  std::unordered_map<key, size_t, key_hash> pos_;
  /// Keys put since the last take_changed_state().
  std::unordered_set<key, key_hash> changed_;
  periodic periodic_;
};

}  // namespace

node_ptr make_rate(context& ctx, number interval, std::vector<node_ptr> children) {
  return std::make_unique<rate_node>(ctx, interval, std::move(children));
}
node_ptr make_changed(std::string field, std::optional<std::string> init,
                      std::vector<node_ptr> children) {
  return std::make_unique<changed_node>(std::move(field), std::move(init), std::move(children));
}
node_ptr make_throttle(context& ctx, int64_t n, number dt, double anchor,
                       std::vector<node_ptr> children) {
  return std::make_unique<throttle_node>(ctx, n, dt, anchor, std::move(children));
}
node_ptr make_coalesce(context& ctx, number dt, std::vector<node_ptr> children) {
  return std::make_unique<coalesce_node>(ctx, dt, std::move(children));
}

}  // namespace dmon::native
