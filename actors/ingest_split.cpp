// ingest_split: the owner split of a batch, node then shard, with one key hash per event.
#include "ingest_split.hpp"

#include <algorithm>

#include "ownership.hpp"

namespace dmon {

ingest_split ingest_split::of(std::vector<event>&& events, const cluster_view& view,
                              size_t shards) {
  ingest_split out;
  shards = shards ? shards : 1;
  out.local.resize(shards);
  auto n = events.size();
  // A read is usually mostly one destination's; reserving each part's fair share avoids
  // most regrowth without reserving n per part.
  if (shards == 1 && !view.clustered()) {
    out.local[0] = std::move(events);
    return out;
  }
  for (auto& p : out.local)
    p.reserve(n / shards + n / 8 + 1);
  const bool alone = !view.clustered() || view.members().empty();
  // The owner of the previous remote event: runs of one owner skip the search.
  size_t last = 0;
  const auto& self = view.self();
  for (auto& e : events) {
    auto h = ownership::key_hash(e);
    if (alone) {
      out.local[h % shards].push_back(std::move(e));
      continue;
    }
    // One ring lookup per event (owns() and owner() would each do one): the owner is this
    // node exactly when owns() is true, a leaving node included (it is no owner in its view).
    auto& owner = view.owner(h);
    if (owner == self) {
      out.local[h % shards].push_back(std::move(e));
      continue;
    }
    if (last >= out.remote.size() || out.remote[last].first != owner) {
      auto it = std::find_if(out.remote.begin(), out.remote.end(),
                             [&](const auto& r) { return r.first == owner; });
      if (it == out.remote.end()) {
        out.remote.emplace_back(owner, std::vector<event>{});
        out.remote.back().second.reserve(n / 2 + 1);
        it = out.remote.end() - 1;
      }
      last = static_cast<size_t>(it - out.remote.begin());
    }
    out.remote[last].second.push_back(std::move(e));
  }
  return out;
}

size_t ingest_split::local_parts() const {
  return static_cast<size_t>(std::count_if(local.begin(), local.end(),
                                           [](const std::vector<event>& p) { return !p.empty(); }));
}

}  // namespace dmon
