// dmon::pubsub: copy-on-write channel lists, so publishing never waits on subscribers.
#include "pubsub.hpp"

namespace dmon {

pubsub::subscription_id pubsub::subscribe(std::string channel,
                                          std::optional<query::predicate> filter, callback cb) {
  std::lock_guard guard{mtx_};
  auto id = next_id_++;
  auto& list = channels_[channel];
  auto copy = list ? std::make_shared<entry_list>(*list) : std::make_shared<entry_list>();
  copy->push_back(std::make_shared<const entry>(entry{id, std::move(filter), std::move(cb)}));
  list = std::move(copy);
  channel_of_.emplace(id, std::move(channel));
  total_.fetch_add(1, std::memory_order_relaxed);
  return id;
}

bool pubsub::unsubscribe(subscription_id id) {
  std::lock_guard guard{mtx_};
  auto where = channel_of_.find(id);
  if (where == channel_of_.end())
    return false;
  auto list = channels_.find(where->second);
  auto copy = std::make_shared<entry_list>();
  copy->reserve(list->second->size());
  for (auto& e : *list->second)
    if (e->id != id)
      copy->push_back(e);
  if (copy->empty())
    channels_.erase(list);
  else
    list->second = std::move(copy);
  channel_of_.erase(where);
  total_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

void pubsub::publish(std::string_view channel, const event& e) {
  if (total_.load(std::memory_order_relaxed) == 0)
    return;
  std::shared_ptr<const entry_list> list;
  {
    std::lock_guard guard{mtx_};
    // C++20 heterogeneous lookup needs a transparent hash; one string copy is cheaper to read.
    auto it = channels_.find(std::string{channel});
    if (it == channels_.end())
      return;
    list = it->second;
  }
  for (auto& sub : *list)
    if (!sub->filter || sub->filter->matches(e))
      sub->cb(e);
}

size_t pubsub::subscribers(std::string_view channel) const {
  std::lock_guard guard{mtx_};
  auto it = channels_.find(std::string{channel});
  return it == channels_.end() ? 0 : it->second->size();
}

}  // namespace dmon
