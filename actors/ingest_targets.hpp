// dmon::ingest_targets: where a listener's events go: owned ones straight to the local shards,
// the others through the router to their owner node.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "cluster_link.hpp"
#include "interfaces.hpp"

namespace dmon {

/// A listener's ways to the streams. The events this node owns (all of them while it is
/// alone) go straight to their shard, skipping the router's hop and its reply; in a cluster
/// the others go to the router, naming their owner node, which forwards them there. Both
/// answer one ticket, so the listener's answer waits for every owner.
struct ingest_targets {
  router_actor router;
  std::vector<stream_actor> shards;
  /// Null: never clustered.
  const cluster_link* link = nullptr;

  /// Whether events may go out without the router deciding (there are local shards).
  bool direct() const;

  /// The current cluster view (null without a link). A listener that must keep per-key order
  /// across a view change holds on to the view its unanswered batches were split by.
  std::shared_ptr<const cluster_link::snapshot> view() const;

  /// Splits `events` by owner under `view` (null, or a view that is not clustered: every
  /// key is local) and sends them: each non-empty shard part to its shard, each other
  /// owner's part to the router, all with one ticket made by `make_ticket(parts)` (a node's
  /// own parts count once). In a cluster the owned parts' answer waits for the keeper to send
  /// what their streams wrote to replicas and other owners (when anything is queued or on
  /// its way), as the router's ack does. `events` must not be empty; call only when direct().
  void send(const cluster_link::snapshot* view, std::vector<event> events,
            const std::function<ingest_ticket(size_t parts)>& make_ticket) const;

  /// send() under the current view.
  void send_direct(std::vector<event> events,
                   const std::function<ingest_ticket(size_t parts)>& make_ticket) const;
};

/// A ticket for `parts` parts of a batch this node owns in a cluster: when they all ran, it
/// answers `whole` at once if the keeper has nothing queued or on its way (the common case with
/// replication 1), else after the keeper sent it to replicas and other owners (the flush the
/// router's ack does). A failed part fails `whole`.
ingest_ticket after_keeper_flush(const cluster_link* link, ingest_ticket whole, size_t parts);

}  // namespace dmon
