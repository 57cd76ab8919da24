// dmon::merge_answers: one cluster-wide query answer from every member's share, replicas
// de-duplicated.
#pragma once

#include <string>
#include <vector>

#include "cluster_view.hpp"
#include "event.hpp"

namespace dmon {

/// What one member answered to a scattered query.
struct node_answer {
  std::string node;
  /// False when the member did not answer in time (or failed): its lists are empty.
  bool answered = false;
  /// Matches in its index (keys it owns, or holds until a handoff finishes).
  std::vector<event> owned;
  /// Matches among the replicas it holds for other owners.
  std::vector<event> replicas;
};

/// The merged answer.
struct merged_answer {
  std::vector<event> events;
  /// Members that did not answer, sorted.
  std::vector<std::string> missing;
  /// True when so many members are missing (replication or more) that some keys may
  /// have no copy among the answers.
  bool partial = false;
};

/// Merges per-member answers into one entry per key, by these rules:
/// - the copy in the index of the key's owner (by `view`) wins when the owner answered;
/// - when the owner answered without the key, a copy in another member's index (a key
///   still being handed off) is used, newest first; replica copies are not, so a key
///   the owner deleted does not come back from a stale replica;
/// - when the owner did not answer, the newest copy among indexes and replicas.
merged_answer merge_answers(const cluster_view& view, std::vector<node_answer> answers);

}  // namespace dmon
