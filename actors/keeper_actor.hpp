// The keeper actor: a node's peer-facing actor for index writes, replicas, handoff and query
// shares.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cluster_link.hpp"
#include "interfaces.hpp"
#include "pubsub.hpp"
#include "replica_set.hpp"
#include "store.hpp"
#include "tombstones.hpp"

namespace dmon {

/// How the keeper works; the node fills it from its config.
struct keeper_options {
  /// How long a send to another member may take before it counts as failed.
  std::chrono::milliseconds send_timeout{10'000};
  /// Timer for the outbox (writes made outside an ingest, e.g. by stream timers) and relays.
  std::chrono::milliseconds tick{100};
  /// Period of the repair pass that moves entries this node holds but does not own.
  std::chrono::milliseconds rebalance_every{10'000};
  /// A watch from a node with subscribers lasts this long unless renewed.
  std::chrono::milliseconds watch_lease{5'000};
  /// How long a handed-off entry stays in the old owner's index after the new owner took
  /// it: members that have not seen the new view yet still find it there when they query.
  std::chrono::milliseconds release_grace{3'000};
  /// Relayed index writes buffered for watchers before more are dropped.
  size_t relay_capacity = 10'000;
  /// How long a leaving node keeps retrying to hand its entries to staying members.
  std::chrono::milliseconds leave_deadline{25'000};
  /// Pause between rounds of such retries (the view may have learned of more leavers).
  std::chrono::milliseconds leave_retry{250};
  /// How long a delete's tombstone is kept (counted from the delete's time): a copy of the
  /// key written before the delete that turns up within it (a node returning with its data
  /// directory, the other side of a healed partition) stays deleted.
  std::chrono::seconds tombstone_horizon{86'400};
  /// How often tombstones past the horizon are forgotten.
  std::chrono::seconds tombstone_reap_every{60};
  /// Period of the stream-state replication: every key's changed per-key state goes to its
  /// replicas (the state a survivor imports when the owner crashes). A round whose export
  /// took longer than a tenth of this stretches the period to ten times the export.
  std::chrono::milliseconds state_replicate_every{2'000};
};

/// Entries a leaving node places on staying members, round after round until each is
/// acknowledged or the deadline passes. Defined in keeper_actor.cpp.
struct placement;

/// Buffer of local index writes for watching nodes, filled on publishers' threads.
struct relay_buffer {
  std::mutex mtx;
  std::vector<event> events;
  size_t capacity = 0;
  uint64_t dropped = 0;
};

struct keeper_state {
  // Not an aggregate: CAF would construct an aggregate state from the actor pointer.
  keeper_state() = default;

  store* db = nullptr;
  pubsub* hub = nullptr;
  cluster_link* link = nullptr;
  router_actor router;
  keeper_options opts;
  std::unique_ptr<replica_set> replicas;
  std::unique_ptr<tombstones> graves;
  std::chrono::steady_clock::time_point next_grave_reap{};
  /// The view of the last rebalance; unset until the first view with other members
  /// (a node starting alone waits for its peers before moving anything).
  std::optional<cluster_view> prev;
  std::chrono::steady_clock::time_point next_rebalance{};

  /// Sends in flight per sequence number, and flushes waiting for them (how to answer each:
  /// a router's request, or a listener's ticket).
  uint64_t next_seq = 1;
  std::map<uint64_t, size_t> open;
  std::vector<std::pair<uint64_t, std::function<void()>>> waiters;
  /// Flushes that came while an outbox send was open: their writes go in one batch once
  /// the open sends finished (replica writes of concurrent ingests coalesce).
  std::vector<std::function<void()>> deferred_flushes;

  /// Handed-off entries to drop from the index (or keep as replicas) once due.
  struct pending_release {
    std::chrono::steady_clock::time_point due;
    std::shared_ptr<std::vector<event>> sent;
    std::shared_ptr<const std::unordered_set<std::string>> keep;
  };
  std::vector<pending_release> releases;

  /// Placements waiting for their next round.
  std::vector<std::pair<std::chrono::steady_clock::time_point, std::shared_ptr<placement>>> retries;
  /// Handoffs and index writes received while leaving, still being passed on.
  size_t passing_on = 0;
  /// The leave request, answered once its own entries and every pass-on are settled.
  std::optional<caf::typed_response_promise<uint64_t>> leave_reply;
  /// Set by the leave request (the view also says so once the cluster actor announced it).
  bool leaving = false;
  bool leave_placing = false;
  uint64_t leave_placed = 0;

  /// Nodes watching this node's index writes, until their lease ends.
  std::map<std::string, std::chrono::steady_clock::time_point> watchers;
  std::shared_ptr<relay_buffer> relay;
  pubsub::subscription_id relay_sub = 0;
  std::chrono::steady_clock::time_point next_watch{};

  /// The node's stream actors: per-key stream state is exported from and imported into them
  /// (a key's shard is key_hash mod their count, as the router picks it).
  std::vector<stream_actor> shards;
  /// Digest of the state slice last sent to the replicas, per key hash; cleared when the view
  /// changes (replica sets changed).
  std::unordered_map<uint64_t, uint64_t> state_sent;
  /// The next replication round exports every key (with the digests above deciding what is
  /// sent), not only those the streams changed since the last round: set at start, when the
  /// replica sets changed and when a send failed (its keys are no longer marked changed).
  bool state_full_next = true;
  bool state_replicating = false;
  std::chrono::steady_clock::time_point next_state_replication{};
  /// Stream-state handoffs of the leave still in flight (the leave waits for them).
  size_t state_open = 0;
  /// Digest of every key's stream state as the streams held it when the keeper started
  /// (restored from the checkpoint, before any event or handoff). A key whose state still
  /// has this digest is not handed off: after a restart it is older than the other members'
  /// (while peers connect, transient views would otherwise send it to them).
  std::unordered_map<uint64_t, uint64_t> state_at_start;
  /// Replica stream-state slices read from the store at start and not sent again since: dropped
  /// at the first view with peers (the owners' state is newer; they send it again).
  std::unordered_set<uint64_t> states_from_disk;

  static inline const char* name = "dmon.keeper";
};

/// Spawn it `caf::detached`: it writes to RocksDB. `router` runs forwarded batches; `shards`
/// (the node's stream actors, in shard order) export and import per-key stream state.
keeper_actor::behavior_type keeper(keeper_actor::stateful_pointer<keeper_state> self, store* db,
                                   pubsub* hub, cluster_link* link, router_actor router,
                                   keeper_options opts, std::vector<stream_actor> shards);

/// True on the thread of a keeper while it publishes relayed writes, so the keeper's
/// own relay subscription does not send them on again.
bool relaying_now();

}  // namespace dmon
