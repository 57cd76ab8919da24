// cluster_query: scatter over CAF to the members' keepers, gather with a deadline, merge.
#include "cluster_query.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include "event_batch_codec.hpp"
#include "interfaces.hpp"
#include "query/query.hpp"
#include "query_merge.hpp"

namespace dmon {

namespace {

// Merges what the members answered, counts and logs the silent ones, and applies the rule:
// an answer is complete or refused.
query_answer finish(cluster_link& link, const cluster_view& view, std::vector<node_answer> answers,
                    std::chrono::milliseconds timeout) {
  auto merged = merge_answers(view, std::move(answers));
  auto& c = link.counters;
  c.queries.fetch_add(1, std::memory_order_relaxed);
  if (merged.missing.empty())
    return std::move(merged.events);
  c.query_members_missing.fetch_add(merged.missing.size(), std::memory_order_relaxed);
  if (merged.partial)
    c.partial_queries.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("query: no answer within {} ms from {}; {}", timeout.count(),
               fmt::join(merged.missing, ", "),
               merged.partial ? "refused: some keys may have no copy among the answers"
                              : "their keys were answered from replicas");
  // With fewer than `replication` members silent every key has a copy among the answers;
  // with more, it may not.
  if (merged.partial)
    return error{ec::unreachable,
                 fmt::format("cluster query incomplete: no answer within {} ms from {} "
                             "(replication {}, so some keys may have no copy among the "
                             "answers); retry, or add scope=local over HTTP for this node's "
                             "own index",
                             timeout.count(), fmt::join(merged.missing, ", "), view.replication())};
  return std::move(merged.events);
}

}  // namespace

void cluster_query(caf::actor_system& sys, cluster_link& link, const std::string& text,
                   std::chrono::milliseconds timeout,
                   const std::function<query_answer(const std::string&)>& local,
                   std::function<void(query_answer)> done) {
  auto snap = link.get();
  if (!snap->view.clustered() || snap->keepers.empty())
    return done(local(text));
  if (text.find_first_not_of(" \t\r\n,") == std::string::npos)
    return done(std::vector<event>{});
  if (auto pred = query::parse_cached(text); !pred)
    return done(pred.error());
  // One short-lived actor per query gathers the answers: each request carries the timeout,
  // so the actor hears from every member (or of its silence) within `timeout` and nobody
  // waits on a thread meanwhile. Its state lives in the actor, touched only by its handlers.
  struct gather {
    std::vector<node_answer> answers;
    size_t left = 0;
  };
  auto g = std::make_shared<gather>();
  for (auto& [node, handle] : snap->keepers)
    g->answers.push_back(node_answer{node, false, {}, {}});
  g->left = g->answers.size();
  sys.spawn([g, snap, text, timeout, &link,
             done = std::move(done)](caf::event_based_actor* self) mutable {
    auto one_done = [g, self, snap, timeout, &link, done]() {
      if (--g->left > 0)
        return;
      done(finish(link, snap->view, std::move(g->answers), timeout));
      self->quit();
    };
    size_t i = 0;
    for (auto& [node, handle] : snap->keepers) {
      auto slot = i++;
      self->request(caf::actor_cast<keeper_actor>(handle), timeout, cquery_atom::value, text)
          .then(
              [g, slot, one_done](const std::string& owned, const std::string& copies) {
                auto a = event_batch_codec::decode(owned);
                auto b = event_batch_codec::decode(copies);
                if (a && b) {
                  auto& ans = g->answers[slot];
                  ans.answered = true;
                  ans.owned = std::move(*a);
                  ans.replicas = std::move(*b);
                }
                one_done();
              },
              [one_done](caf::error&) { one_done(); });
    }
  });
}

}  // namespace dmon
