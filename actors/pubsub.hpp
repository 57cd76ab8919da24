// dmon::pubsub: in-process channels ("index", topics) that WebSocket and SSE clients follow.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "event.hpp"
#include "query/query.hpp"

namespace dmon {

/// A thread-safe hub of named channels, Riemann's `riemann.pubsub` (RIEMANN.md §5.4).
///
/// Publishers (stream actors, the index writer, the reaper) call `publish` from
/// any thread. Subscribers are WebSocket and SSE sessions of the HTTP server.
/// `publish` costs one relaxed atomic load when nobody subscribes, and otherwise
/// one short mutex hold to copy a shared pointer; filters and callbacks run on
/// the publisher's thread without any lock held, so a callback must be cheap
/// and must never block (the HTTP sessions only append to a bounded queue).
///
/// Owned by the node; it must outlive every subscriber and publisher.
class pubsub {
 public:
  /// Receives each matching event; runs on the publisher's thread.
  using callback = std::function<void(const event&)>;

  /// Identifies one subscription; never 0.
  using subscription_id = uint64_t;

  pubsub() = default;
  pubsub(const pubsub&) = delete;
  pubsub& operator=(const pubsub&) = delete;

  /// Subscribes `cb` to `channel`; with a `filter`, only events it matches are
  /// delivered. Returns the id to pass to `unsubscribe`.
  subscription_id subscribe(std::string channel, std::optional<query::predicate> filter,
                            callback cb);

  /// Ends a subscription. Returns false when `id` is unknown. A publish that
  /// started before this call may still deliver one last event to the callback
  /// concurrently or just after this returns, so a callback must only hold
  /// shared or weak references to what it feeds.
  bool unsubscribe(subscription_id id);

  /// Delivers `e` to every subscriber of `channel` whose filter matches.
  void publish(std::string_view channel, const event& e);

  /// Returns the number of subscriptions over all channels.
  size_t subscribers() const { return total_.load(std::memory_order_relaxed); }

  /// Returns the number of subscriptions to `channel`.
  size_t subscribers(std::string_view channel) const;

 private:
  struct entry {
    subscription_id id;
    std::optional<query::predicate> filter;
    callback cb;
  };
  using entry_list = std::vector<std::shared_ptr<const entry>>;

  // Copy-on-write: publish copies the channel's list pointer and walks it unlocked,
  // so a slow filter never holds up subscribe/unsubscribe and a callback that
  // ends up destroying its subscriber cannot deadlock on the hub.
  mutable std::mutex mtx_;
  std::unordered_map<std::string, std::shared_ptr<const entry_list>> channels_;
  std::unordered_map<subscription_id, std::string> channel_of_;
  subscription_id next_id_ = 1;
  std::atomic<size_t> total_{0};
};

}  // namespace dmon
