// cluster_view: ownership and replica questions answered over a ring.
#include "cluster_view.hpp"

#include <algorithm>

namespace dmon {

cluster_view::cluster_view(ring members, std::string self, size_t replication)
    : members_(std::move(members)),
      self_(std::move(self)),
      replication_(replication ? replication : 1) {}

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
  return cluster_view{std::move(next), self_, replication_};
}

}  // namespace dmon
