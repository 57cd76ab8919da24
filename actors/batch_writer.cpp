// A shard's own index and history writes: coalesce, write through write_group, count.
#include "batch_writer.hpp"

#include <chrono>

namespace dmon {

std::optional<std::string> batch_writer::write(std::vector<event>& index,
                                               std::vector<event>& history) {
  auto index_writes = index.size(), history_writes = history.size();
  if (ctx_->hub->subscribers() > 0)
    to_publish_.insert(to_publish_.end(), index.begin(), index.end());
  group_.add(std::move(index), std::move(history), 0, std::chrono::steady_clock::now());
  // The caller's buffers come back empty but sized like this batch's, as the storage actor's
  // hand-over leaves them (growing them from empty per batch moved every write again).
  index.clear();
  history.clear();
  index.reserve(index_writes);
  history.reserve(history_writes);
  auto group = group_.take();
  if (auto failed = write_group(*ctx_, group.index, group.history, to_publish_)) {
    counters_->index_failures.fetch_add(index_writes + history_writes, std::memory_order_relaxed);
    return "storage failed, the events' index writes were not made: " + failed->message;
  }
  counters_->indexed.fetch_add(index_writes, std::memory_order_relaxed);
  return std::nullopt;
}

}  // namespace dmon
