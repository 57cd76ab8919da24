// dmon::forward_outbox: events for other owner nodes, coalesced per peer across ingests.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "event.hpp"

namespace dmon {

/// The router's queue of events to forward, one per peer. Every forward costs a request,
/// a reply and thread wake-ups on both nodes whatever its size, so while `max_in_flight`
/// forwards to a peer are unanswered, events for it from further ingests wait here and go
/// as one batch when one is answered; a queue reaching `max_events` goes at once instead,
/// so a batch never grows past that. Not a buffer without bound: every queued event belongs
/// to an ingest whose client still waits for its ack (each `Token` is answered only after
/// the owner ran the events), so the queue is bounded by what the listeners let in flight.
/// Per peer, events leave in the order they were added. Not thread-safe (the router owns it).
template <class Token>
class forward_outbox {
 public:
  /// Events for one forward, and who waits for how many of them (in order).
  struct batch {
    std::vector<event> events;
    std::vector<std::pair<Token, size_t>> waiting;
  };

  forward_outbox(size_t max_in_flight, size_t max_events)
      : max_in_flight_(max_in_flight < 1 ? 1 : max_in_flight), max_events_(max_events) {}

  /// Queues `events` for `peer`; `token` is handed back with their count in the batch that
  /// carries them. Call next() afterwards.
  void add(const std::string& peer, std::vector<event>&& events, Token token) {
    auto& q = peers_[peer];
    auto n = events.size();
    if (q.queued.events.empty())
      q.queued.events = std::move(events);
    else
      q.queued.events.insert(q.queued.events.end(), std::make_move_iterator(events.begin()),
                             std::make_move_iterator(events.end()));
    q.queued.waiting.emplace_back(std::move(token), n);
  }

  /// The batch to send to `peer` now, if one may go: the queue is not empty and fewer than
  /// `max_in_flight` forwards are open, or it reached `max_events`. Counts it as open.
  std::optional<batch> next(const std::string& peer) {
    auto it = peers_.find(peer);
    if (it == peers_.end() || it->second.queued.waiting.empty())
      return std::nullopt;
    auto& q = it->second;
    if (q.in_flight >= max_in_flight_ && q.queued.events.size() < max_events_)
      return std::nullopt;
    ++q.in_flight;
    return std::exchange(q.queued, batch{});
  }

  /// A forward to `peer` was answered or failed.
  void done(const std::string& peer) {
    auto it = peers_.find(peer);
    if (it == peers_.end())
      return;
    if (it->second.in_flight > 0)
      --it->second.in_flight;
    if (it->second.in_flight == 0 && it->second.queued.waiting.empty())
      peers_.erase(it);
  }

  /// Takes what waits for `peer` without counting it as open (the peer left the view).
  batch take(const std::string& peer) {
    auto it = peers_.find(peer);
    if (it == peers_.end())
      return {};
    return std::exchange(it->second.queued, batch{});
  }

  /// Peers with queued events.
  std::vector<std::string> waiting_peers() const {
    std::vector<std::string> out;
    for (auto& [peer, q] : peers_)
      if (!q.queued.waiting.empty())
        out.push_back(peer);
    return out;
  }

  size_t queued(const std::string& peer) const {
    auto it = peers_.find(peer);
    return it == peers_.end() ? 0 : it->second.queued.events.size();
  }

  size_t in_flight(const std::string& peer) const {
    auto it = peers_.find(peer);
    return it == peers_.end() ? 0 : it->second.in_flight;
  }

 private:
  struct per_peer {
    batch queued;
    size_t in_flight = 0;
  };

  size_t max_in_flight_;
  size_t max_events_;
  std::map<std::string, per_peer> peers_;
};

}  // namespace dmon
