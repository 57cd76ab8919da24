// ingest_waiter: counts a batch's parts down and answers once, even when a part is dropped.
#include "ingest_ticket.hpp"

namespace dmon {

ingest_waiter::ingest_waiter(size_t parts, finish_fn finish)
    : pending_(parts), finish_(std::move(finish)) {}

ingest_waiter::~ingest_waiter() {
  // Nobody else holds the ticket now; no lock needed.
  if (finish_)
    finish_(events_, "a stream shard stopped before running them (the node is shutting down)");
}

void ingest_waiter::done(uint64_t events) {
  finish_fn call;
  {
    std::lock_guard lock{mtx_};
    if (!finish_)
      return;
    events_ += events;
    if (pending_ == 0 || --pending_ != 0)
      return;
    call = std::move(finish_);
    finish_ = nullptr;
  }
  call(events_, {});
}

void ingest_waiter::failed(std::string why) {
  finish_fn call;
  {
    std::lock_guard lock{mtx_};
    if (!finish_)
      return;
    call = std::move(finish_);
    finish_ = nullptr;
  }
  call(events_, std::move(why));
}

}  // namespace dmon
