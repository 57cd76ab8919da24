// cluster_query: scatter over CAF to the members' keepers, gather with a deadline, merge.
#include "cluster_query.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <future>
#include <mutex>

#include "event_batch_codec.hpp"
#include "interfaces.hpp"
#include "query/query.hpp"
#include "query_merge.hpp"

namespace dmon {

namespace {

struct gather {
  std::mutex mtx;
  std::vector<node_answer> answers;
  size_t left = 0;
  std::promise<void> done;
};

}  // namespace

result<std::vector<event>> cluster_query(
    caf::actor_system& sys, cluster_link& link, const std::string& text,
    std::chrono::milliseconds timeout,
    const std::function<result<std::vector<event>>(const std::string&)>& local) {
  auto snap = link.get();
  if (!snap->view.clustered() || snap->keepers.empty())
    return local(text);
  if (text.find_first_not_of(" \t\r\n,") == std::string::npos)
    return std::vector<event>{};
  if (auto pred = query::parse_cached(text); !pred)
    return pred.error();
  auto g = std::make_shared<gather>();
  for (auto& [node, handle] : snap->keepers)
    g->answers.push_back(node_answer{node, false, {}, {}});
  g->left = g->answers.size();
  auto finished = g->done.get_future();
  // Detached: the caller may be a CAF worker (the TCP parser actor) blocked below, and the
  // answers must not wait for a free worker.
  sys.spawn<caf::detached>([g, snap, text, timeout](caf::event_based_actor* self) {
    size_t i = 0;
    for (auto& [node, handle] : snap->keepers) {
      auto slot = i++;
      auto one_done = [g, self] {
        if (--g->left == 0) {
          g->done.set_value();
          self->quit();
        }
      };
      self->request(caf::actor_cast<keeper_actor>(handle), timeout, cquery_atom::value, text)
          .then(
              [=](const std::string& owned, const std::string& copies) {
                auto a = event_batch_codec::decode(owned);
                auto b = event_batch_codec::decode(copies);
                if (a && b) {
                  std::lock_guard lock{g->mtx};
                  auto& ans = g->answers[slot];
                  ans.answered = true;
                  ans.owned = std::move(*a);
                  ans.replicas = std::move(*b);
                }
                one_done();
              },
              [=](caf::error&) { one_done(); });
    }
  });
  finished.wait_for(timeout + std::chrono::seconds{1});
  std::vector<node_answer> answers;
  {
    std::lock_guard lock{g->mtx};
    answers = g->answers;
  }
  auto merged = merge_answers(snap->view, std::move(answers));
  auto& c = link.counters;
  c.queries.fetch_add(1, std::memory_order_relaxed);
  if (!merged.missing.empty()) {
    c.query_members_missing.fetch_add(merged.missing.size(), std::memory_order_relaxed);
    if (merged.partial)
      c.partial_queries.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("query: no answer within {} ms from {}; {}", timeout.count(),
                 fmt::join(merged.missing, ", "),
                 merged.partial ? "refused: some keys may have no copy among the answers"
                                : "their keys were answered from replicas");
    // The rule: an answer is complete or refused. With fewer than `replication` members
    // silent every key has a copy among the answers; with more, it may not.
    if (merged.partial)
      return error{
          ec::unreachable,
          fmt::format("cluster query incomplete: no answer within {} ms from {} "
                      "(replication {}, so some keys may have no copy among the "
                      "answers); retry, or add scope=local over HTTP for this node's "
                      "own index",
                      timeout.count(), fmt::join(merged.missing, ", "), snap->view.replication())};
  }
  return std::move(merged.events);
}

}  // namespace dmon
