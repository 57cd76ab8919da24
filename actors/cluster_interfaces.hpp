// The cluster actor's typed interface, the messages nodes exchange, and their CAF registration.
#pragma once

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "atoms.hpp"
#include "ingest_ticket.hpp"
#include "membership.hpp"

namespace caf {
class actor_system_config;
}  // namespace caf

namespace dmon {

/// A node introduces itself to a peer (request) and the peer answers with its own.
using hello_atom = caf::atom_constant<caf::atom("hello")>;
/// A node's live member list, sent to every live peer when it changes and periodically.
using gossip_atom = caf::atom_constant<caf::atom("gossip")>;
/// The live member list, from the cluster actor to its subscriber.
using members_atom = caf::atom_constant<caf::atom("members")>;
/// Asks the cluster actor for readiness and members (/readyz, /cluster).
using status_atom = caf::atom_constant<caf::atom("status")>;
/// Internal: the answer of a DNS resolution of --peers-dns.
using resolved_atom = caf::atom_constant<caf::atom("resolved")>;
/// Internal: the cluster port is published; start dialing peers.
using start_atom = caf::atom_constant<caf::atom("start")>;

/// Index writes for keys the receiving node owns, made by streams on another node.
using index_write_atom = caf::atom_constant<caf::atom("idxwrite")>;
/// Copies of index writes (and deletes) for a key the receiver is a replica of.
using replica_atom = caf::atom_constant<caf::atom("replica")>;
/// Index entries an old owner hands to the new owner (newer copy wins).
using handoff_atom = caf::atom_constant<caf::atom("handoff")>;
/// One member's share of a cluster-wide query: its index and replica matches.
using cquery_atom = caf::atom_constant<caf::atom("cquery")>;
/// A node with live index subscribers asks a member to relay its index writes.
using watch_atom = caf::atom_constant<caf::atom("watch")>;
/// Index writes relayed to a watching node (event_batch_codec bytes).
using relay_atom = caf::atom_constant<caf::atom("relay")>;
/// Local: send the outbox and answer once every send before it finished.
using flush_atom = caf::atom_constant<caf::atom("flush")>;
/// Local: the view changed; move entries accordingly.
using rebalance_atom = caf::atom_constant<caf::atom("rebalance")>;
/// Local: this node is leaving. To the cluster actor: announce it to the peers; to the
/// keeper: hand every index entry to a member that is not leaving.
using leave_atom = caf::atom_constant<caf::atom("leave")>;
/// From a peer's cluster actor: that member (node id, incarnation) is leaving.
using leaving_atom = caf::atom_constant<caf::atom("leaving")>;
/// Per-key stream state (state_slices bytes) an old owner hands to a key's new owner.
using state_handoff_atom = caf::atom_constant<caf::atom("sthandoff")>;
/// The owner's per-key stream state (state_slices bytes) for a key's replicas.
using state_replica_atom = caf::atom_constant<caf::atom("streplica")>;
/// Local, to a stream actor: the per-key part of its streams' state.
using state_export_atom = caf::atom_constant<caf::atom("stexport")>;
/// Local, to a stream actor: load keys' state, replacing what its streams hold for them.
using state_import_atom = caf::atom_constant<caf::atom("stimport")>;

/// What a node says when it connects: who it is, the handles peers use to reach
/// it, and which members it sees live (so the receiver can dial the others).
struct hello_msg {
  member_info self;
  /// The sender's cluster actor (peers monitor it to notice the node going away).
  caf::actor cluster;
  /// The sender's peer-facing actor, handed to subscribers for forwarding.
  caf::actor peer;
  /// The sender's live members, itself included.
  std::vector<member_info> members;
};

/// One live member as the subscriber sees it.
struct cluster_member {
  std::string node_id;
  uint64_t incarnation = 0;
  /// That node's peer-facing actor (for this node: the local one given to start_cluster).
  caf::actor handle;
  /// It announced its leave: still live and queried, but no owner or handoff target.
  bool leaving = false;
};

/// Readiness and membership, for /readyz and /cluster.
struct cluster_status {
  /// True when every configured peer is connected (or none is configured).
  bool ready = false;
  /// One line, e.g. "waiting for peers 10.0.0.2:5557 (retry in 4 s: connection refused); ...".
  std::string readiness;
  /// Live members, self included, sorted by node id.
  std::vector<member_info> members;
  /// Every known endpoint as "host:port state [node id] [last error]".
  std::vector<std::string> peers;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_endpoint& x) {
  return f(caf::meta::type_name("dmon.peer_endpoint"), x.host, x.port);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_info& x) {
  return f(caf::meta::type_name("dmon.member_info"), x.node_id, x.incarnation, x.endpoint);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hello_msg& x) {
  return f(caf::meta::type_name("dmon.hello_msg"), x.self, x.cluster, x.peer, x.members);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_member& x) {
  return f(caf::meta::type_name("dmon.cluster_member"), x.node_id, x.incarnation, x.handle,
           x.leaving);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_status& x) {
  return f(caf::meta::type_name("dmon.cluster_status"), x.ready, x.readiness, x.members, x.peers);
}

/// Receives the live member list whenever it changes (and once at start: self only).
using cluster_subscriber_actor =
    caf::typed_actor<caf::reacts_to<members_atom, std::vector<cluster_member>>>;

/// Membership of one node: publishes itself on the cluster port, dials peers,
/// exchanges hellos and member lists, monitors peers, and tells its subscriber.
using cluster_actor = caf::typed_actor<
    // From a peer's cluster actor: its hello; replies with ours.
    caf::replies_to<hello_atom, hello_msg>::with<hello_msg>,
    // From a peer: its live members (self included).
    caf::reacts_to<gossip_atom, std::vector<member_info>>,
    // From a peer: that member (node id, incarnation) is leaving (SIGTERM).
    caf::reacts_to<leaving_atom, std::string, uint64_t>,
    // Local (node, on SIGTERM): mark this node leaving and tell every peer.
    caf::reacts_to<leave_atom>,
    // Readiness and members for /readyz and /cluster.
    caf::replies_to<status_atom>::with<cluster_status>,
    // Internal: who this node is, once its port is published; starts dialing.
    caf::reacts_to<start_atom, member_info>,
    // Internal: retry, gossip and DNS timer.
    caf::reacts_to<tick_atom>,
    // Internal: a DNS answer (endpoints, or an error message when not empty).
    caf::reacts_to<resolved_atom, std::vector<peer_endpoint>, std::string>>;

/// The keeper: a node's peer-facing actor. It receives what other nodes send (event
/// batches, index writes, replicas, handoffs, query shares) and sends this node's
/// replicas, foreign index writes and handoffs. Every payload is event_batch_codec bytes.
using keeper_actor = caf::typed_actor<
    // An event batch this node owns (from a peer's router, with the forward's id); runs on
    // the local shards, then answers the sender with (forward_atom, id, events ran, error).
    caf::reacts_to<forward_atom, std::string, uint64_t>,
    // Regrouped events whose new keys this node owns (regroup::encode bytes); to the router.
    caf::replies_to<regroup_atom, std::string>::with<uint64_t>,
    // Index writes for keys this node owns; replies with the number applied.
    caf::replies_to<index_write_atom, std::string>::with<uint64_t>,
    // Replica copies; replies with the number received.
    caf::replies_to<replica_atom, std::string>::with<uint64_t>,
    // Handed-off index entries; replies with the number received.
    caf::replies_to<handoff_atom, std::string>::with<uint64_t>,
    // Handed-off stream state of keys this node now owns; replies once the shards loaded it.
    caf::replies_to<state_handoff_atom, std::string>::with<uint64_t>,
    // The owner's stream state of keys this node is a replica of; replies with the number held.
    caf::replies_to<state_replica_atom, std::string>::with<uint64_t>,
    // A query (Riemann syntax): replies with (index matches, replica matches).
    caf::replies_to<cquery_atom, std::string>::with<std::string, std::string>,
    // A node (by id) wants this node's index writes for the next few seconds.
    caf::reacts_to<watch_atom, std::string>,
    // Index writes another member relays to this node's subscribers.
    caf::reacts_to<relay_atom, std::string>,
    // Local (router): send the outbox; replies when every send so far finished.
    caf::replies_to<flush_atom>::with<uint64_t>,
    // Local (a listener's batch of owned events ran): the same, answering `ticket` (done(0)).
    caf::reacts_to<flush_atom, ingest_ticket>,
    // Local (router): the view changed.
    caf::reacts_to<rebalance_atom>,
    // Local (node, on SIGTERM): hand everything to the next owners; replies with the count.
    caf::replies_to<leave_atom>::with<uint64_t>,
    // Internal: outbox, relay and periodic rebalance timer.
    caf::reacts_to<tick_atom>>;

/// Registers every type in cluster messages. Every node must call it on its
/// actor_system_config before creating the actor system: the hello and gossip
/// messages cross nodes, and both ends must know the type names.
void register_cluster_types(caf::actor_system_config& cfg);

/// Turns on CAF's BASP heartbeats: every node sends one per `interval` and drops a
/// connection silent for `timeout`, which makes peers see a down message for a
/// partitioned or frozen node instead of waiting for TCP to give up (minutes).
/// Call it with register_cluster_types(); suggested: 1 s and 10 s.
void set_cluster_heartbeat(caf::actor_system_config& cfg, std::chrono::milliseconds interval,
                           std::chrono::milliseconds timeout);

}  // namespace dmon
