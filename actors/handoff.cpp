// plan_handoff: a pure function of two views and the entries a node holds.
#include "handoff.hpp"

#include <algorithm>

#include "ownership.hpp"
#include "state_slices.hpp"

namespace dmon {

namespace {

// Members of `next`'s replica set missing from `prev`'s; all of them when this node
// did not own the key in `prev` (no replica was fed by it).
void add_new_replicas(const cluster_view& prev, const cluster_view& next, uint64_t h,
                      bool owned_before, const event& e, handoff_plan& plan) {
  auto now = next.replicas(h);
  std::vector<std::string> before;
  if (owned_before)
    before = prev.replicas(h);
  for (auto& r : now)
    if (std::find(before.begin(), before.end(), r) == before.end())
      plan.to_replica[r].push_back(e);
}

}  // namespace

handoff_plan plan_handoff(const cluster_view& prev, const cluster_view& next,
                          std::span<const event> index_entries,
                          std::span<const event> replica_entries) {
  handoff_plan plan;
  for (auto& e : index_entries) {
    auto h = ownership::key_hash(e);
    if (next.owns(h)) {
      add_new_replicas(prev, next, h, prev.owns(h), e, plan);
      continue;
    }
    plan.to_owner[next.owner(h)].push_back(e);
    if (next.holds_replica(h))
      plan.keep_as_replica.push_back(e);
  }
  for (auto& e : replica_entries) {
    auto h = ownership::key_hash(e);
    if (next.owns(h)) {
      plan.promote.push_back(e);
      add_new_replicas(prev, next, h, false, e, plan);
    } else if (!next.holds_replica(h)) {
      plan.drop_replica.push_back(e);
    }
  }
  return plan;
}

leave_plan plan_leave(const cluster_view& view, std::vector<event> entries) {
  auto staying = view.is_leaving(view.self()) ? view : view.with_leaving(view.self());
  leave_plan plan;
  for (auto& e : entries) {
    if (staying.members().empty())
      plan.nowhere.push_back(std::move(e));
    else
      plan.to_owner[staying.owner(ownership::key_hash(e))].push_back(std::move(e));
  }
  return plan;
}

state_moves plan_state_handoff(const cluster_view& prev, const cluster_view& next,
                               std::vector<key_state> slices) {
  state_moves out;
  if (next.members().empty())
    return out;
  for (auto& s : slices) {
    auto h = state_slices::key_hash(s);
    if (prev.owns(h) && !next.owns(h))
      out[next.owner(h)].push_back(std::move(s));
  }
  return out;
}

state_moves plan_state_leave(const cluster_view& before, const cluster_view& view,
                             std::vector<key_state> slices) {
  auto staying = view.is_leaving(view.self()) ? view : view.with_leaving(view.self());
  return plan_state_handoff(before, staying, std::move(slices));
}

state_moves plan_state_replicas(const cluster_view& view, std::span<const key_state> slices) {
  state_moves out;
  for (auto& s : slices) {
    auto h = state_slices::key_hash(s);
    if (!view.owns(h))
      continue;
    for (auto& r : view.replicas(h))
      if (r != view.self())
        out[r].push_back(s);
  }
  return out;
}

state_replica_plan plan_state_promotion(const cluster_view& next, std::span<const key_state> held) {
  state_replica_plan plan;
  for (auto& s : held) {
    auto h = state_slices::key_hash(s);
    if (next.owns(h))
      plan.promote.push_back(s);
    else if (!next.holds_replica(h))
      plan.drop.push_back(s);
  }
  return plan;
}

}  // namespace dmon
