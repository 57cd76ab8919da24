// Router actor: fan-out of a batch to its owners and fan-in of their replies.
#include "router_actor.hpp"

#include <caf/all.hpp>

namespace dmon {

router_actor::behavior_type router(router_actor::stateful_pointer<router_state> self,
                                   std::vector<stream_actor> shards) {
  self->state.owners = ownership{shards.size()};
  self->state.shards = std::move(shards);
  return {
      [=](ingest_atom, std::vector<event>& batch) -> caf::result<uint64_t> {
        auto& st = self->state;
        if (st.shards.size() == 1)
          return self->delegate(st.shards[0], ingest_atom::value, std::move(batch));
        std::vector<std::vector<event>> parts(st.shards.size());
        for (auto& e : batch)
          parts[st.owners.shard_of(e)].push_back(std::move(e));
        auto rp = self->make_response_promise<uint64_t>();
        auto pending = std::make_shared<std::pair<size_t, uint64_t>>(0, 0);
        for (size_t i = 0; i < parts.size(); ++i)
          if (!parts[i].empty())
            ++pending->first;
        if (pending->first == 0)
          return uint64_t{0};
        for (size_t i = 0; i < parts.size(); ++i) {
          if (parts[i].empty())
            continue;
          self->request(st.shards[i], caf::infinite, ingest_atom::value, std::move(parts[i]))
              .then(
                  [=](uint64_t n) mutable {
                    pending->second += n;
                    if (--pending->first == 0)
                      rp.deliver(pending->second);
                  },
                  [=](caf::error& err) mutable {
                    if (pending->first > 0) {
                      pending->first = 0;
                      rp.deliver(std::move(err));
                    }
                  });
        }
        return rp;
      },
  };
}

}  // namespace dmon
