// plan_handoff: a pure function of two views and the entries a node holds.
#include "handoff.hpp"

#include <algorithm>

#include "ownership.hpp"

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

}  // namespace dmon
