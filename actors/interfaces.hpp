// Every typed actor interface of dmon, one line per message.
#pragma once

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "atoms.hpp"
#include "cluster_interfaces.hpp"
#include "event.hpp"
#include "ingest_ticket.hpp"
#include "key_state.hpp"
#include "regrouped_event.hpp"

// Event batches only travel between actors of one process; crossing nodes they are
// encoded as Riemann protobuf, so CAF never needs to serialize them.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<dmon::event>)
// Likewise regrouped events; between nodes they travel as regroup::encode() bytes.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dmon::regrouped_batch)
// Per-key stream state between a node's keeper and its shards; between nodes it travels as
// state_slices bytes.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<dmon::key_state>)

namespace dmon {
struct frame_batch;
}
// One read's frames and what to answer them (tcp_replies.hpp), for rendering query answers.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<const dmon::frame_batch>)

namespace dmon {

/// One shard: runs its private instance of the user's streams.
using stream_actor = caf::typed_actor<
    // Run a batch through every root stream; replies with the number of events processed.
    caf::replies_to<ingest_atom, std::vector<event>>::with<uint64_t>,
    // The same for a sender that is not an actor (a TCP connection's I/O thread): the answer
    // goes to the ticket, from this actor or, once the writes are in the WAL, the storage actor.
    caf::reacts_to<ingest_atom, std::vector<event>, ingest_ticket>,
    // Drive the streams' timers.
    caf::reacts_to<tick_atom>,
    // Save the streams' state now; replies whether it worked.
    caf::replies_to<checkpoint_atom>::with<bool>,
    // Regrouped events this shard owns the new keys of: run each regroup()'s children; replies
    // once they (and any regroup below them) ran.
    caf::replies_to<regroup_atom, regrouped_batch>::with<uint64_t>,
    // The per-key part of the streams' state (cluster handoff and replicas): of every key, or
    // with `true` only of keys changed since the last such export (a replication round).
    caf::replies_to<state_export_atom, bool>::with<std::vector<key_state>>,
    // Keys' state from another owner: replaces what the streams hold for those keys; replies
    // with the number of stream entries loaded.
    caf::replies_to<state_import_atom, std::vector<key_state>>::with<uint64_t>>;

/// Writes the shards' index and history updates to the store in commit groups.
using storage_actor = caf::typed_actor<
    // One stream batch's writes (shard, index, history, events the batch had); replies with
    // that event count once the writes are in the WAL (or fails with the store's reason).
    caf::replies_to<write_atom, int32_t, std::vector<event>, std::vector<event>,
                    uint64_t>::with<uint64_t>,
    // The same, answering `ticket` rather than a requester (ingest_ticket.hpp).
    caf::reacts_to<write_atom, int32_t, std::vector<event>, std::vector<event>, uint64_t,
                   ingest_ticket>,
    // Commit the group of that generation, if it is still open (sent to itself).
    caf::reacts_to<commit_atom, uint64_t>,
    // Commit what is held now; replies whether the write succeeded.
    caf::replies_to<flush_atom>::with<bool>>;

/// Picks the owner (node, then shard) of each event's key and delivers events there, in order
/// per key.
using router_actor = caf::typed_actor<
    // Deliver a batch; replies once every owner processed its share.
    caf::replies_to<ingest_atom, std::vector<event>>::with<uint64_t>,
    // The same for a TCP connection's read: the ticket is answered instead of a reply.
    caf::reacts_to<ingest_atom, std::vector<event>, ingest_ticket>,
    // A listener's events for one other owner node (by node id, from the listener's view):
    // forwarded there (coalesced with other ingests' events for it); the ticket is answered
    // once the owner ran them. Routed by the router's own view if that node left it.
    caf::reacts_to<forward_atom, std::string, std::vector<event>, ingest_ticket>,
    // An owner node's keeper answers forward `id`: events it ran, and an error (empty: ran).
    caf::reacts_to<forward_atom, uint64_t, uint64_t, std::string>,
    // Internal: fail forwards unanswered for too long.
    caf::reacts_to<tick_atom>,
    // The cluster's live members changed (also the first list, at start).
    caf::reacts_to<members_atom, std::vector<cluster_member>>,
    // Regrouped events from a shard here: to the owners (node, shard) of their new keys;
    // replies once every owner ran its share.
    caf::replies_to<regroup_atom, regrouped_batch>::with<uint64_t>,
    // The same from another node (regroup::encode bytes): runs on the local shards, never
    // routed again.
    caf::replies_to<regroup_atom, std::string>::with<uint64_t>>;

/// The part of a TCP connection's work that must not run on its I/O thread: batches that go
/// through the router (the node is in a cluster), and answers to queries.
using tcp_parser_actor = caf::typed_actor<
    // Render the answers of batch `seq`, whose events ran, queries included.
    caf::reacts_to<frames_atom, uint64_t, std::shared_ptr<const frame_batch>>>;

/// Decodes what a UDP listener received (protobuf Msgs or JSON events).
using udp_parser_actor = caf::typed_actor<caf::reacts_to<datagrams_atom, std::vector<std::string>>>;

/// Expires index entries and re-injects them as "expired" events.
using reaper_actor = caf::typed_actor<caf::reacts_to<reap_atom>>;

}  // namespace dmon
