// dmon::cluster_link: what the router, keeper, reaper, sinks and HTTP share about the cluster.
#pragma once

#include <caf/actor.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "cluster_view.hpp"
#include "write_outbox.hpp"

namespace dmon {

/// Cluster counters, read for /cluster, /metrics, the stats log and `dmon cluster` events.
struct cluster_counters {
  std::atomic<uint64_t> forwarded_out{0};
  std::atomic<uint64_t> forwarded_in{0};
  std::atomic<uint64_t> forward_failures{0};
  /// Forward messages sent and received: forwarded_out / forward_batches_out is the mean batch,
  /// which decides what a forward costs (docs/performance.md, the CAF hop's floor).
  std::atomic<uint64_t> forward_batches_out{0};
  std::atomic<uint64_t> forward_batches_in{0};
  /// Index writes sent to, and received by, their owner node.
  std::atomic<uint64_t> index_forwarded_out{0};
  std::atomic<uint64_t> index_forwarded_in{0};
  /// Replica copies sent, received, and failed (sends that failed or were dropped).
  std::atomic<uint64_t> replicated_out{0};
  std::atomic<uint64_t> replicated_in{0};
  std::atomic<uint64_t> replication_failures{0};
  /// Index entries handed to a new owner, received as new owner, and failed handoffs.
  std::atomic<uint64_t> handed_off_out{0};
  std::atomic<uint64_t> handed_off_in{0};
  std::atomic<uint64_t> handoff_failures{0};
  /// Index entries a leaving node could not hand to a staying member before its
  /// deadline (they stay in its data directory).
  std::atomic<uint64_t> handoff_unplaced{0};
  /// Replica entries that became this node's own.
  std::atomic<uint64_t> promoted{0};
  /// Per-key stream-state slices handed to a key's new owner, received as new owner, and
  /// failed (the new owner then starts those keys fresh).
  std::atomic<uint64_t> state_handed_off_out{0};
  std::atomic<uint64_t> state_handed_off_in{0};
  std::atomic<uint64_t> state_handoff_failures{0};
  /// Stream-state slices sent to replicas (only keys whose state changed), received, failed.
  std::atomic<uint64_t> state_replicated_out{0};
  std::atomic<uint64_t> state_replicated_in{0};
  std::atomic<uint64_t> state_replication_failures{0};
  /// Replica stream-state slices imported into the streams after their owner went.
  std::atomic<uint64_t> state_promoted{0};
  /// Stream-state replication rounds finished (every slice of the round answered or failed).
  std::atomic<uint64_t> state_replication_rounds{0};
  /// Cluster-wide queries answered, and those a member did not answer in time.
  std::atomic<uint64_t> queries{0};
  std::atomic<uint64_t> query_members_missing{0};
  std::atomic<uint64_t> partial_queries{0};
  /// Rebalance passes run (membership changes and periodic repairs).
  std::atomic<uint64_t> rebalances{0};
  /// Replica entries held (set by the keeper).
  std::atomic<uint64_t> replicas_held{0};
  /// Replica stream-state slices held, one per key (set by the keeper).
  std::atomic<uint64_t> state_replicas_held{0};
};

/// The shared, thread-safe link: the current view with the members' keeper handles,
/// the outbox of writes to send, and the counters. Owned by the node.
class cluster_link {
 public:
  struct snapshot {
    cluster_view view;
    /// Every live member's keeper (its peer-facing actor), this node's included.
    std::map<std::string, caf::actor> keepers;
  };

  explicit cluster_link(size_t outbox_capacity, size_t replication)
      : outbox(outbox_capacity),
        replication(replication),
        current_(std::make_shared<const snapshot>()) {}

  std::shared_ptr<const snapshot> get() const {
    std::lock_guard lock{mtx_};
    return current_;
  }

  void set(std::shared_ptr<const snapshot> next) {
    std::lock_guard lock{mtx_};
    clustered_.store(next->view.clustered(), std::memory_order_relaxed);
    current_ = std::move(next);
  }

  /// Whether the current view has other members; one atomic load, for hot paths that
  /// need nothing else when the node is alone.
  bool clustered() const { return clustered_.load(std::memory_order_relaxed); }

  write_outbox outbox;
  cluster_counters counters;
  /// This node's keeper, set once before the cluster starts (the router compares
  /// member handles with it to find itself, and asks it to flush).
  caf::actor local_keeper;
  const size_t replication;

 private:
  mutable std::mutex mtx_;
  std::shared_ptr<const snapshot> current_;
  std::atomic<bool> clustered_{false};
};

}  // namespace dmon
