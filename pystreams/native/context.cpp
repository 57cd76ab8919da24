// The native timer heap: the same ordering and rescheduling rules as dmon.runtime.Runtime.tick.
#include "native/context.hpp"

#include <algorithm>

namespace dmon::native {

namespace {

// std::*_heap builds a max-heap: "greater" puts the earliest (due, seq) on top.
bool later(const timer_ptr& a, const timer_ptr& b) {
  if (a->due != b->due)
    return a->due > b->due;
  return a->seq > b->seq;
}

}  // namespace

context::context(std::function<double()> clock, sinks out)
    : clock_(std::move(clock)), out_(std::move(out)) {}

void context::schedule(timer_ptr t) {
  heap_.push_back(std::move(t));
  std::push_heap(heap_.begin(), heap_.end(), later);
}

timer_ptr context::every(double interval, double delay, std::function<void()> fn) {
  auto t = std::make_shared<timer>();
  t->due = now() + delay;
  t->interval = interval;
  t->seq = seq_++;
  t->fn = std::move(fn);
  t->owner = owner();
  schedule(t);
  return t;
}

timer_ptr context::at(double when, std::function<void()> fn) {
  auto t = std::make_shared<timer>();
  t->due = when;
  t->seq = seq_++;
  t->fn = std::move(fn);
  t->owner = owner();
  schedule(t);
  return t;
}

void context::tick(double now) {
  auto previous = override_;
  while (!heap_.empty() && heap_.front()->due <= now) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    timer_ptr t = std::move(heap_.back());
    heap_.pop_back();
    if (t->cancelled)
      continue;
    double due = t->due;
    override_ = due;
    if (t->owner) {
      t->owner->mark();
      owner_scope in(*this, t->owner.get());
      t->fn();
    } else {
      t->fn();
    }
    if (t->interval && !t->cancelled) {
      t->due = due + *t->interval;
      schedule(std::move(t));
    }
  }
  override_ = previous;
}

size_t context::pending() const {
  return static_cast<size_t>(
      std::count_if(heap_.begin(), heap_.end(), [](auto& t) { return !t->cancelled; }));
}

}  // namespace dmon::native
