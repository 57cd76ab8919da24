// dmon::cluster_query: a query answered over every live member (scatter, wait, merge).
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

/// Answers `text` for the whole cluster: asks every live member's keeper (this node's
/// included) for its index and replica matches, waits at most `timeout` for them, and
/// merges with merge_answers (owner's copy wins; replicas stand in for silent members).
/// Members that do not answer are left out and counted. With fewer than `replication`
/// of them silent the merged answer is complete (replicas cover them); with more it is
/// refused with ec::unreachable naming them, never returned incomplete. When
/// the node is alone, `local` answers. A query that does not parse is ec::bad_query.
/// Blocks the calling thread (an I/O thread), never an actor's.
result<std::vector<event>> cluster_query(
    caf::actor_system& sys, cluster_link& link, const std::string& text,
    std::chrono::milliseconds timeout,
    const std::function<result<std::vector<event>>(const std::string&)>& local);

}  // namespace dmon
