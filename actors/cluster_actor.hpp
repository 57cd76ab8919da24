// The cluster actor: CAF side of membership (publish, dial, hello, monitor, notify).
#pragma once

#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster_interfaces.hpp"
#include "membership.hpp"

namespace dmon {

/// How a node joins the cluster. Every field has a default that works for one
/// node on loopback.
struct cluster_options {
  /// This node's stable id; the ring hashes it, so keep it across restarts (a
  /// StatefulSet pod name, or host:port). Default: the advertised endpoint.
  std::string node_id;
  /// Address the cluster port binds to. Default: 127.0.0.1.
  std::string bind = "127.0.0.1";
  /// The cluster (CAF middleman) port; 0 lets the OS pick one (tests). Default: 5557.
  uint16_t port = 5557;
  /// "host:port" peers dial to reach this node. Default: bind:actual port; set it
  /// when binding 0.0.0.0 (a pod: its DNS name or IP).
  std::string advertise;
  /// Static peers (--peers); may include this node itself.
  std::vector<peer_endpoint> peers;
  /// DNS name whose A/AAAA records are the peers (--peers-dns).
  std::string peers_dns;
  /// Port dialed on every address of peers_dns; 0 means `port` (all pods listen on
  /// the same one). Default: 0.
  uint16_t peers_dns_port = 0;
  /// How often peers_dns is re-resolved. Default: 30 s.
  std::chrono::milliseconds dns_interval{30'000};
  /// Timer for due retries. Default: 250 ms.
  std::chrono::milliseconds tick_interval{250};
  /// How often the live list is re-sent to every peer. Default: 5 s.
  std::chrono::milliseconds gossip_interval{5'000};
  /// Limit for a connect plus CAF handshake, and for the hello reply. Default: 10 s.
  std::chrono::milliseconds connect_timeout{10'000};
  /// Retry backoff (0.5 s doubling to 30 s, jittered by 20%).
  membership::options retry;
  /// This start's incarnation; must grow across restarts. Default (0): now in µs.
  uint64_t incarnation = 0;
};

/// What start_cluster returns.
struct cluster_handle {
  cluster_actor actor;
  /// The bound cluster port (useful with port 0).
  uint16_t port = 0;
  /// This node's id, as resolved from the options.
  std::string node_id;
};

/// Spawns the cluster actor, publishes it on opts.bind:opts.port and starts
/// dialing. `peer` is this node's peer-facing actor, handed to other nodes'
/// subscribers; `subscriber` receives the live member list on every change.
/// Blocks while publishing: call it from the composition root, not from an
/// actor. Returns unreachable when the port cannot be bound, bad_config for
/// a bad advertise address.
result<cluster_handle> start_cluster(caf::actor_system& sys, cluster_options opts, caf::actor peer,
                                     cluster_subscriber_actor subscriber);

/// Asks the cluster actor for its status without waiting on the calling thread: a
/// short-lived actor sends the request and calls `done` once, from a CAF worker thread,
/// with the status, or ec::unreachable when the actor did not answer within `timeout` (or
/// is gone). `done` must only hand the answer over (e.g. post it to an I/O thread).
void ask_cluster_status(caf::actor_system& sys, const cluster_actor& actor,
                        std::chrono::milliseconds timeout,
                        std::function<void(result<cluster_status>)> done);

/// The cluster actor's state; public for the behavior function only.
struct cluster_state {
  // Not an aggregate: CAF would construct an aggregate state from the actor pointer.
  cluster_state() = default;

  /// A live member's handles.
  struct remote {
    uint64_t incarnation = 0;
    cluster_actor cluster;
    caf::actor peer;
  };

  cluster_options opts;
  caf::actor peer;
  cluster_subscriber_actor subscriber;
  /// Constructed on start, once the advertised endpoint is known.
  std::optional<membership> members;
  std::map<std::string, remote> remotes;
  /// Monitored peer cluster actors -> (node id, incarnation).
  std::map<caf::actor_addr, std::pair<std::string, uint64_t>> monitored;
  /// (node id, incarnation) of the list last sent to the subscriber.
  std::vector<std::tuple<std::string, uint64_t, bool>> notified;
  membership::time_point next_gossip{};
  membership::time_point next_dns{};
  bool resolving = false;
  std::string last_readiness;
  static inline const char* name = "dmon.cluster";
};

/// The behavior; spawn it through start_cluster().
cluster_actor::behavior_type cluster(cluster_actor::stateful_pointer<cluster_state> self,
                                     cluster_options opts, caf::actor peer,
                                     cluster_subscriber_actor subscriber);

}  // namespace dmon
