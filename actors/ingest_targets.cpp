// ingest_targets: a listener's batch split by owner, owned parts to the shards, the rest to the
// router.
#include "ingest_targets.hpp"

#include <caf/all.hpp>

#include "ingest_split.hpp"

namespace dmon {

ingest_ticket after_keeper_flush(const cluster_link* link, ingest_ticket whole, size_t parts) {
  return std::make_shared<ingest_waiter>(
      parts, [link, whole = std::move(whole)](uint64_t n, std::string error) {
        if (!error.empty()) {
          whole->failed(std::move(error));
          return;
        }
        if (!link->local_keeper || link->outbox.idle()) {
          whole->done(n);
          return;
        }
        caf::anon_send(
            caf::actor_cast<keeper_actor>(link->local_keeper), flush_atom::value,
            std::make_shared<ingest_waiter>(1, [whole, n](uint64_t, std::string flush_error) {
              if (flush_error.empty())
                whole->done(n);
              else
                whole->failed(std::move(flush_error));
            }));
      });
}

bool ingest_targets::direct() const {
  return !shards.empty();
}

std::shared_ptr<const cluster_link::snapshot> ingest_targets::view() const {
  return link ? link->get() : nullptr;
}

void ingest_targets::send(const cluster_link::snapshot* view, std::vector<event> events,
                          const std::function<ingest_ticket(size_t parts)>& make_ticket) const {
  bool clustered = view && view->view.clustered();
  if (!clustered && shards.size() == 1) {
    caf::anon_send(shards[0], ingest_atom::value, std::move(events), make_ticket(1));
    return;
  }
  auto split =
      ingest_split::of(std::move(events), clustered ? view->view : cluster_view{}, shards.size());
  auto local_parts = split.local_parts();
  if (!clustered) {
    auto ticket = make_ticket(local_parts);
    for (size_t i = 0; i < split.local.size(); ++i)
      if (!split.local[i].empty())
        caf::anon_send(shards[i], ingest_atom::value, std::move(split.local[i]), ticket);
    return;
  }
  auto whole = make_ticket((local_parts > 0 ? 1 : 0) + split.remote.size());
  for (auto& [owner, part] : split.remote)
    caf::anon_send(router, forward_atom::value, std::move(owner), std::move(part), whole);
  if (local_parts == 0)
    return;
  auto local = after_keeper_flush(link, std::move(whole), local_parts);
  for (size_t i = 0; i < split.local.size(); ++i)
    if (!split.local[i].empty())
      caf::anon_send(shards[i], ingest_atom::value, std::move(split.local[i]), local);
}

void ingest_targets::send_direct(
    std::vector<event> events,
    const std::function<ingest_ticket(size_t parts)>& make_ticket) const {
  auto current = view();
  send(current.get(), std::move(events), make_ticket);
}

}  // namespace dmon
