// dmon::cluster_query: a query answered over every live member (scatter, gather, merge).
#pragma once

#include <caf/fwd.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "cluster_link.hpp"
#include "error.hpp"
#include "event.hpp"

namespace dmon {

/// What a cluster-wide query answers with: the merged events, or why not.
using query_answer = result<std::vector<event>>;

/// Answers `text` for the whole cluster without waiting on the calling thread: asks every
/// live member's keeper (this node's included) for its index and replica matches, gathers
/// them for at most `timeout`, merges them with merge_answers (owner's copy wins; replicas
/// stand in for silent members) and calls `done` once, from a CAF worker thread (so `done`
/// must only hand the answer over, e.g. post it to an I/O thread). Members that do not
/// answer are left out and counted. With fewer than `replication` of them silent the
/// merged answer is complete (replicas cover them); with more it is refused with
/// ec::unreachable naming them, never returned incomplete. A query that does not parse is
/// ec::bad_query, and when the node is alone `local` answers; both call `done` at once, on
/// the calling thread.
void cluster_query(caf::actor_system& sys, cluster_link& link, const std::string& text,
                   std::chrono::milliseconds timeout,
                   const std::function<query_answer(const std::string&)>& local,
                   std::function<void(query_answer)> done);

}  // namespace dmon
