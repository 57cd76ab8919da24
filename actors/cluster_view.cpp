// cluster_view: ownership and replica questions answered over a ring.
#include "cluster_view.hpp"

#include <algorithm>

namespace dmon {

cluster_view::cluster_view(ring members, std::string self, size_t replication)
    : members_(std::move(members)),
      self_(std::move(self)),
      replication_(replication ? replication : 1) {}

cluster_view::cluster_view(ring members, std::string self, size_t replication,
                           std::vector<std::string> leaving)
    : cluster_view(std::move(members), std::move(self), replication) {
  std::sort(leaving.begin(), leaving.end());
  leaving.erase(std::unique(leaving.begin(), leaving.end()), leaving.end());
  for (auto& id : leaving)
    members_.erase(id);
  leaving_ = std::move(leaving);
}

bool cluster_view::owns(uint64_t key_hash) const {
  // A view without this node (a planned leave) owns nothing, even with one member left.
  return members_.empty() || members_.owner(key_hash) == self_;
}

const std::string& cluster_view::owner(uint64_t key_hash) const {
  return members_.empty() ? self_ : members_.owner(key_hash);
}

std::vector<std::string> cluster_view::replicas(uint64_t key_hash) const {
  if (members_.size() <= 1 || replication_ <= 1)
    return {};
  auto all = members_.owners(key_hash, replication_);
  all.erase(all.begin());
  return all;
}

bool cluster_view::holds_replica(uint64_t key_hash) const {
  auto r = replicas(key_hash);
  return std::find(r.begin(), r.end(), self_) != r.end();
}

cluster_view cluster_view::without(const std::string& node_id) const {
  auto next = members_;
  next.erase(node_id);
  auto leaving = leaving_;
  std::erase(leaving, node_id);
  return cluster_view{std::move(next), self_, replication_, std::move(leaving)};
}

cluster_view cluster_view::with_leaving(const std::string& node_id) const {
  auto leaving = leaving_;
  leaving.push_back(node_id);
  return cluster_view{members_, self_, replication_, std::move(leaving)};
}

bool cluster_view::is_leaving(std::string_view node_id) const {
  return std::binary_search(leaving_.begin(), leaving_.end(), node_id);
}

}  // namespace dmon
