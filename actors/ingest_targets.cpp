// ingest_targets: the alone-or-clustered decision and the split of a batch over the shards.
#include "ingest_targets.hpp"

#include <caf/all.hpp>

#include <algorithm>

#include "cluster_link.hpp"

namespace dmon {

bool ingest_targets::direct() const {
  return !shards.empty() && !(link && link->clustered());
}

void ingest_targets::send_direct(
    std::vector<event> events,
    const std::function<ingest_ticket(size_t parts)>& make_ticket) const {
  if (shards.size() == 1) {
    caf::anon_send(shards[0], ingest_atom::value, std::move(events), make_ticket(1));
    return;
  }
  ownership owners{shards.size()};
  auto n = events.size();
  std::vector<std::vector<event>> parts(shards.size());
  for (auto& p : parts)
    p.reserve(n / parts.size() + n / 8 + 1);
  for (auto& e : events)
    parts[owners.shard_of(e)].push_back(std::move(e));
  auto ticket = make_ticket(std::count_if(parts.begin(), parts.end(),
                                          [](const std::vector<event>& p) { return !p.empty(); }));
  for (size_t i = 0; i < parts.size(); ++i)
    if (!parts[i].empty())
      caf::anon_send(shards[i], ingest_atom::value, std::move(parts[i]), ticket);
}

}  // namespace dmon
