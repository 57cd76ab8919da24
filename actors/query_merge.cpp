// merge_answers: per-key choice between owner, in-flight and replica copies.
#include "query_merge.hpp"

#include <algorithm>
#include <set>
#include <unordered_map>

#include "index.hpp"
#include "ownership.hpp"

namespace dmon {

namespace {

enum class source { owner = 0, other_index = 1, replica = 2 };

struct candidate {
  event e;
  source from;
};

int64_t time_of(const event& e) {
  return e.time_us ? *e.time_us : INT64_MIN;
}

// Whether `b` should replace `a` as the chosen copy of one key.
bool better(const candidate& b, const candidate& a) {
  if (b.from != a.from)
    return static_cast<int>(b.from) < static_cast<int>(a.from);
  return time_of(b.e) > time_of(a.e);
}

}  // namespace

merged_answer merge_answers(const cluster_view& view, std::vector<node_answer> answers) {
  merged_answer out;
  std::set<std::string> answered;
  for (auto& a : answers) {
    if (a.answered)
      answered.insert(a.node);
    else
      out.missing.push_back(a.node);
  }
  std::sort(out.missing.begin(), out.missing.end());
  out.partial = !out.missing.empty() && out.missing.size() >= view.replication();

  std::unordered_map<std::string, candidate> chosen;
  auto offer = [&](event&& e, source from) {
    auto key = index_key::of(e).encode();
    candidate c{std::move(e), from};
    auto [it, inserted] = chosen.try_emplace(std::move(key), std::move(c));
    if (!inserted && better(c, it->second))
      it->second = std::move(c);
  };
  for (auto& a : answers) {
    if (!a.answered)
      continue;
    for (auto& e : a.owned) {
      auto& owner = view.owner(ownership::key_hash(e));
      offer(std::move(e), owner == a.node ? source::owner : source::other_index);
    }
    for (auto& e : a.replicas) {
      // A replica counts only while the key's owner is silent.
      if (answered.count(view.owner(ownership::key_hash(e))))
        continue;
      offer(std::move(e), source::replica);
    }
  }
  out.events.reserve(chosen.size());
  for (auto& [key, c] : chosen)
    out.events.push_back(std::move(c.e));
  return out;
}

}  // namespace dmon
