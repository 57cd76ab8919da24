// Passing a shard's regrouped events on to the router, and holding the shard's reply until they
// ran.
#pragma once

#include <cstdint>
#include <string>

#include <caf/typed_response_promise.hpp>

#include "stream_actor.hpp"

namespace dmon {

/// Sends what the shard's regroup() streams emitted while handling one message (ctx.writes'
/// `regrouped`) to the router, which takes each event to its new key's owner, and the
/// message's index and history writes to the storage actor. Replies `reply`, or an error
/// naming `failure` when it is not empty, once those owners ran them and the writes are in
/// the WAL, so the client's ack means the same as without regroup; right away when there
/// is nothing to wait for.
caf::result<uint64_t> relay_regrouped(stream_actor::stateful_pointer<stream_state> self,
                                      uint64_t reply, std::string failure = {});

/// The same for a batch that came with a ticket (ingest_ticket.hpp): answers the ticket.
void relay_regrouped(stream_actor::stateful_pointer<stream_state> self, uint64_t reply,
                     ingest_ticket ticket, std::string failure = {});

/// The same for what timers emitted: nobody waits, failures are logged.
void relay_regrouped_from_timers(stream_actor::stateful_pointer<stream_state> self);

/// The error a shard answers when regrouped events name a regroup() stream its module lacks.
std::string unknown_regroup_message(int shard, size_t count, const std::string& address);

}  // namespace dmon
