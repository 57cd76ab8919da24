// A shard's own index and history writes: coalesce, write through write_group, count.
#include "batch_writer.hpp"

#include <chrono>

namespace dmon {

std::optional<std::string> batch_writer::write(std::vector<keyed_event>& index,
                                               std::vector<event>& history) {
  auto index_writes = index.size(), history_writes = history.size();
  if (ctx_->hub->subscribers() > 0)
    for (auto& w : index)
      to_publish_.push_back(w.e);
  group_.add(index, std::move(history), 0, std::chrono::steady_clock::now());
  // The caller's buffers come back empty but sized like this batch's (growing them from
  // empty per batch moved every write again): the index buffer is the one this batch's
  // group was coalesced in, handed back after the write.
  history.clear();
  history.reserve(history_writes);
  auto group = group_.take();
  // Whatever happens to the write, the buffer goes back to the caller.
  struct give_back {
    std::vector<keyed_event>& from;
    std::vector<keyed_event>& to;
    ~give_back() {
      from.clear();
      std::swap(from, to);
    }
  } back{group.index, index};
  if (auto failed = write_group(*ctx_, group.index, group.history, to_publish_)) {
    counters_->index_failures.fetch_add(index_writes + history_writes, std::memory_order_relaxed);
    return "storage failed, the events' index writes were not made: " + failed->message;
  }
  counters_->indexed.fetch_add(index_writes, std::memory_order_relaxed);
  return std::nullopt;
}

}  // namespace dmon
