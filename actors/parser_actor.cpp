// Parser actors: the decode step between sockets and the router.
#include "parser_actor.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include "frame_decoder.hpp"
#include "json_codec.hpp"
#include "metrics.hpp"
#include "protobuf_codec.hpp"

namespace dmon {

namespace {

constexpr int64_t log_interval_us = 1'000'000;

// The largest payload a 4-byte big-endian frame length can describe.
constexpr size_t max_reply_bytes = 0xFFFF'FFFF;

const std::string& ok_reply() {
  static const std::string bytes = frame_decoder::frame(protobuf_codec::encode_reply(true));
  return bytes;
}

std::string error_reply(std::string_view reason) {
  return frame_decoder::frame(protobuf_codec::encode_reply(false, reason));
}

// Events encoded per protobuf call while a query reply is built.
constexpr size_t reply_chunk_events = 256;

// Appends the framed reply to a query. The reply is one length-prefixed Msg,
// so it is built whole, but with no copy of the matches: the Msg's `ok` field
// goes first, then every chunk of matches as a Msg of its own. Protobuf
// concatenation merges messages (repeated fields append), so the bytes decode
// as one Msg{ok, events}. Peak memory is the reply itself plus one chunk.
void append_query_reply(std::string& out, const std::string& text, const query_function& query) {
  auto start = out.size();
  out.append(4, '\0');
  out += protobuf_codec::encode_reply(true);
  std::vector<event> chunk;
  chunk.reserve(reply_chunk_events);
  auto found = query(text, [&](const event& e) {
    chunk.push_back(e);
    if (chunk.size() == reply_chunk_events) {
      out += protobuf_codec::encode_events(chunk);
      chunk.clear();
    }
  });
  if (found && !chunk.empty())
    out += protobuf_codec::encode_events(chunk);
  auto size = out.size() - start - 4;
  if (found && size > max_reply_bytes) {
    out.resize(start);
    out += error_reply("the answer to this query is " + std::to_string(size) +
                       " bytes, over the 4 GiB a Riemann frame can carry; narrow the query");
    return;
  }
  if (!found) {
    out.resize(start);
    out += error_reply(found.error().message);
    return;
  }
  auto n = static_cast<uint32_t>(size);
  out[start] = static_cast<char>(n >> 24);
  out[start + 1] = static_cast<char>(n >> 16);
  out[start + 2] = static_cast<char>(n >> 8);
  out[start + 3] = static_cast<char>(n);
}

// Builds the framed replies of one batch; queries run now, after the batch's events went through.
std::string render(const tcp_parser_state::batch& b, const std::string& stream_error,
                   const query_function& query) {
  std::string out;
  for (size_t i = 0; i < b.errors.size(); ++i) {
    if (!b.errors[i].empty()) {
      out += error_reply(b.errors[i]);
    } else if (!stream_error.empty()) {
      out += error_reply(stream_error);
    } else if (b.queries[i]) {
      append_query_reply(out, *b.queries[i], query);
    } else {
      out += ok_reply();
    }
  }
  if (!b.fatal.empty())
    out += error_reply(b.fatal);
  return out;
}

void flush_in_order(tcp_parser_actor::stateful_pointer<tcp_parser_state> self) {
  auto& st = self->state;
  for (auto i = st.finished.begin(); i != st.finished.end() && i->first == st.next_write;
       i = st.finished.erase(i)) {
    st.sink->deliver(std::move(i->second.bytes), i->second.frames, i->second.close);
    ++st.next_write;
  }
}

}  // namespace

tcp_parser_actor::behavior_type tcp_parser(
    tcp_parser_actor::stateful_pointer<tcp_parser_state> self, std::shared_ptr<reply_sink> sink,
    router_actor router, query_function query, listener_counters* counters) {
  self->state.sink = std::move(sink);
  self->state.router = std::move(router);
  self->state.query = std::move(query);
  self->state.counters = counters;
  return {
      [=](frames_atom, std::vector<std::string>& frames, std::string& fatal) {
        auto& st = self->state;
        auto seq = st.next_seq++;
        auto b = std::make_shared<tcp_parser_state::batch>();
        b->errors.resize(frames.size());
        b->queries.resize(frames.size());
        b->fatal = std::move(fatal);
        std::vector<event> events;
        auto now = now_micros();
        for (size_t i = 0; i < frames.size(); ++i) {
          auto query = st.decoder.decode(frames[i], now, events);
          if (!query) {
            st.counters->messages_rejected.fetch_add(1, std::memory_order_relaxed);
            b->errors[i] = query.error().message;
            if (now - st.last_log_us >= log_interval_us) {
              st.last_log_us = now;
              spdlog::warn("parser {}: rejected a frame: {}", st.counters->name,
                           query.error().message);
            }
            continue;
          }
          b->queries[i] = std::move(*query);
        }
        auto frame_count = frames.size() + (b->fatal.empty() ? 0 : 1);
        auto started = std::chrono::steady_clock::now();
        auto finish = [=](const std::string& stream_error) {
          if (auto* h = self->state.counters->ack_latency)
            h->observe(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
          self->state.finished.emplace(
              seq, tcp_parser_state::answer{render(*b, stream_error, self->state.query),
                                            frame_count, !b->fatal.empty()});
          flush_in_order(self);
        };
        if (events.empty()) {
          finish({});
          return;
        }
        auto n = events.size();
        self->request(st.router, caf::infinite, ingest_atom::value, std::move(events))
            .then(
                [=](uint64_t) {
                  self->state.counters->events_accepted.fetch_add(n, std::memory_order_relaxed);
                  finish({});
                },
                [=](caf::error& err) {
                  finish("events were not processed: " + self->system().render(err) +
                         "; retry, and check the dmond log");
                });
      },
  };
}

udp_parser_actor::behavior_type udp_parser(
    udp_parser_actor::stateful_pointer<udp_parser_state> self, router_actor router,
    datagram_format format, listener_counters* counters, size_t capacity) {
  self->state.router = std::move(router);
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
        // The in-flight bound: past it, drop and count rather than queue without limit.
        if (st.inflight_events + n > st.capacity) {
          c.dropped_events.fetch_add(n, std::memory_order_relaxed);
          return;
        }
        st.inflight_events += n;
        c.inflight_events.fetch_add(n, std::memory_order_relaxed);
        self->request(st.router, caf::infinite, ingest_atom::value, std::move(events))
            .then(
                [=](uint64_t) {
                  self->state.inflight_events -= n;
                  self->state.counters->inflight_events.fetch_sub(n, std::memory_order_relaxed);
                  self->state.counters->events_accepted.fetch_add(n, std::memory_order_relaxed);
                },
                [=](caf::error& err) {
                  self->state.inflight_events -= n;
                  self->state.counters->inflight_events.fetch_sub(n, std::memory_order_relaxed);
                  self->state.counters->dropped_events.fetch_add(n, std::memory_order_relaxed);
                  spdlog::error("parser {}: {} events lost: {}", self->state.counters->name, n,
                                self->system().render(err));
                });
      },
  };
}

}  // namespace dmon
