// Parser actors: UDP decoding, and the TCP work that stays off the I/O threads.
#include "parser_actor.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include "json_codec.hpp"
#include "metrics.hpp"
#include "protobuf_codec.hpp"

namespace dmon {

namespace {

constexpr int64_t log_interval_us = 1'000'000;

}  // namespace

tcp_parser_actor::behavior_type tcp_parser(
    tcp_parser_actor::stateful_pointer<tcp_parser_state> self, std::shared_ptr<reply_sink> sink,
    query_function query) {
  self->state.sink = std::move(sink);
  self->state.query = std::move(query);
  return {
      [=](frames_atom, uint64_t seq, std::shared_ptr<const frame_batch>& b) {
        auto& st = self->state;
        if (st.query.later) {
          // A cluster-wide answer: the members answer when they do (a silent one costs this
          // batch the query timeout); meanwhile this actor renders other batches.
          render_answers_later(std::move(b), st.query, [sink = st.sink, seq](std::string out) {
            sink->deliver(seq, std::move(out));
          });
          return;
        }
        std::string out;
        render_answers(*b, {}, &st.query, out);
        st.sink->deliver(seq, std::move(out));
      },
  };
}

udp_parser_actor::behavior_type udp_parser(
    udp_parser_actor::stateful_pointer<udp_parser_state> self, ingest_targets to,
    datagram_format format, listener_counters* counters, size_t capacity) {
  self->state.to = std::move(to);
  self->state.format = format;
  self->state.counters = counters;
  self->state.capacity = capacity;
  return {
      [=](datagrams_atom, std::vector<std::string>& datagrams) {
        auto& st = self->state;
        auto& c = *st.counters;
        c.queued.fetch_sub(datagrams.size(), std::memory_order_relaxed);
        std::vector<event> events;
        auto now = now_micros();
        auto reject = [&](const error& err) {
          c.messages_rejected.fetch_add(1, std::memory_order_relaxed);
          if (now - st.last_log_us >= log_interval_us) {
            spdlog::warn("parser {}: rejected a datagram ({} more since the last report): {}",
                         c.name, st.unlogged, err.message);
            st.last_log_us = now;
            st.unlogged = 0;
          } else {
            ++st.unlogged;
          }
        };
        for (auto& d : datagrams) {
          if (st.format == datagram_format::protobuf) {
            auto query = st.decoder.decode(d, now, events);
            if (!query) {
              reject(query.error());
              continue;
            }
            if (*query)
              reject(
                  error{ec::unsupported, "a query over UDP gets no answer; send queries over TCP"});
          } else {
            auto e = json_codec::decode(d, now);
            if (!e) {
              reject(e.error());
              continue;
            }
            events.push_back(std::move(*e));
          }
        }
        if (events.empty())
          return;
        auto n = events.size();
        // The in-flight bound: past it, drop and count rather than queue without limit. Only
        // this actor adds to the count, so checking then adding cannot overshoot.
        if (c.inflight_events.load(std::memory_order_relaxed) + n > st.capacity) {
          c.dropped_events.fetch_add(n, std::memory_order_relaxed);
          return;
        }
        c.inflight_events.fetch_add(n, std::memory_order_relaxed);
        // Settles the counters once the events ran (any thread; the counters are atomic).
        auto settle = [counters = st.counters, n](const std::string& error) {
          counters->inflight_events.fetch_sub(n, std::memory_order_relaxed);
          if (error.empty()) {
            counters->events_accepted.fetch_add(n, std::memory_order_relaxed);
            return;
          }
          counters->dropped_events.fetch_add(n, std::memory_order_relaxed);
          spdlog::error("parser {}: {} events lost: {}", counters->name, n, error);
        };
        if (st.to.direct()) {
          st.to.send_direct(std::move(events), [&](size_t parts) {
            return std::make_shared<ingest_waiter>(
                parts, [settle](uint64_t, std::string error) { settle(error); });
          });
          return;
        }
        self->request(st.to.router, caf::infinite, ingest_atom::value, std::move(events))
            .then([settle](uint64_t) { settle({}); },
                  [=](caf::error& err) { settle(self->system().render(err)); });
      },
  };
}

}  // namespace dmon
