// dmon::native::context: the clock, the timer heap and the sinks one set of native stream graphs
// shares.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "event.hpp"

namespace dmon::native {

/// Where index(), store() and publish(topic) nodes hand their events; called on the
/// thread that runs process()/tick(), must not block. index and store take the event over
/// (a node hands on its own copy, or the event it was given to keep: node::push_owned).
struct sinks {
  std::function<void(event&&)> index;
  std::function<void(event&&)> store;
  std::function<void(const std::string& topic, const event&)> publish;
  /// regroup() nodes: the event, the node's address and its key fields, for the owner of the
  /// new key; empty: regroup passes events to its children.
  std::function<void(const std::string& address, const std::vector<std::string>& fields,
                     const event&)>
      regroup = {};
};

/// Marks the per-key state that an event or a timer changed (a `by` fork), so that a cluster's
/// replication round exports only what changed (stream_host::export_keys). A tag made inside
/// another fork points `up` to that fork's, and marking one marks its enclosing forks too.
struct touch : std::enable_shared_from_this<touch> {
  bool dirty = true;  // new state has not been exported yet
  std::shared_ptr<touch> up;
  void mark() {
    for (touch* t = this; t; t = t->up.get())
      t->dirty = true;
  }
};
using touch_ptr = std::shared_ptr<touch>;

/// A scheduled call (dmon.runtime.Timer): `interval` empty for a one-shot.
struct timer {
  double due = 0;
  std::optional<double> interval;
  uint64_t seq = 0;
  bool cancelled = false;
  std::function<void()> fn;
  /// The fork whose nodes made this timer (context::owner() then): marked when it runs.
  touch_ptr owner;
  void cancel() { cancelled = true; }
};
using timer_ptr = std::shared_ptr<timer>;

/// Time is kept as float seconds, as the Python runtime keeps it, so that timers due at
/// `start + k * interval` land on the very same doubles on both paths.
class context {
 public:
  /// `clock` gives unix seconds; `out` receives what sink nodes emit.
  context(std::function<double()> clock, sinks out);

  /// While a timer runs, the time it was due (dmon.runtime.Runtime.now); else the clock.
  double now() const { return override_ ? *override_ : clock_(); }

  /// Runtime.every: `fn` every `interval` s, first at now + delay.
  timer_ptr every(double interval, double delay, std::function<void()> fn);
  /// Runtime.at: `fn` once at `t`.
  timer_ptr at(double t, std::function<void()> fn);

  /// Runtime.tick: runs every timer due at or before `now`, by (due, creation order);
  /// an interval timer is rescheduled at due + interval unless it cancelled itself.
  void tick(double now);

  /// Live timers (for tests).
  size_t pending() const;

  const sinks& out() const { return out_; }

  /// The fork whose nodes are running now (null outside any): timers made meanwhile belong
  /// to it, and mark it when they run.
  touch_ptr owner() const { return owner_ ? owner_->shared_from_this() : nullptr; }
  /// Makes `t` (owned by its fork, which outlives the scope) the owner until destroyed; a
  /// plain pointer, so that events pay no reference counting.
  class owner_scope {
   public:
    owner_scope(context& ctx, touch* t) : ctx_(ctx), prev_(ctx.owner_) { ctx.owner_ = t; }
    ~owner_scope() { ctx_.owner_ = prev_; }
    owner_scope(const owner_scope&) = delete;
    owner_scope& operator=(const owner_scope&) = delete;

   private:
    context& ctx_;
    touch* prev_;
  };

 private:
  void schedule(timer_ptr t);

  std::function<double()> clock_;
  sinks out_;
  std::optional<double> override_;
  uint64_t seq_ = 0;
  std::vector<timer_ptr> heap_;
  touch* owner_ = nullptr;
};

}  // namespace dmon::native
