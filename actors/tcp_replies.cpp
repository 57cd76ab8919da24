// TCP answers: rendering one read's replies, and releasing them in read order.
#include "tcp_replies.hpp"

#include <mutex>

#include "frame_decoder.hpp"
#include "protobuf_codec.hpp"

namespace dmon {

namespace {

// The largest payload a 4-byte big-endian frame length can describe.
constexpr size_t max_reply_bytes = 0xFFFF'FFFF;

// Events encoded per protobuf call while a query reply is built.
constexpr size_t reply_chunk_events = 256;

const std::string& ok_reply() {
  static const std::string bytes = frame_decoder::frame(protobuf_codec::encode_reply(true));
  return bytes;
}

std::string error_reply(std::string_view reason) {
  return frame_decoder::frame(protobuf_codec::encode_reply(false, reason));
}

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

}  // namespace

void render_answers(const frame_batch& b, const std::string& stream_error,
                    const query_function* query, std::string& out) {
  for (size_t i = 0; i < b.errors.size(); ++i) {
    if (!b.errors[i].empty())
      out += error_reply(b.errors[i]);
    else if (!stream_error.empty())
      out += error_reply(stream_error);
    else if (b.queries[i] && query)
      append_query_reply(out, *b.queries[i], *query);
    else if (b.queries[i])
      out += error_reply("this query was not answered: the server had no index to ask");
    else
      out += ok_reply();
  }
  if (!b.fatal.empty())
    out += error_reply(b.fatal);
}

uint64_t reply_order::open(size_t frames, bool close_after) {
  slots_.push_back({frames, close_after, false, {}});
  return first_ + slots_.size() - 1;
}

void reply_order::ready(uint64_t seq, std::string bytes) {
  if (seq < first_ || seq - first_ >= slots_.size())
    return;
  auto& s = slots_[seq - first_];
  s.ready = true;
  s.bytes = std::move(bytes);
}

reply_order::released reply_order::release(std::string& out) {
  released r;
  while (!slots_.empty() && slots_.front().ready && !r.close) {
    auto& s = slots_.front();
    out += s.bytes;
    r.frames += s.frames;
    r.close = s.close;
    slots_.pop_front();
    ++first_;
  }
  return r;
}

void render_answers_later(std::shared_ptr<const frame_batch> b, const query_function& query,
                          std::function<void(std::string)> deliver) {
  // The answers come back on whatever threads answered them, in any order; the last one
  // renders the batch with them, replayed in frame order.
  struct gathered {
    std::mutex mtx;
    std::vector<result<std::vector<event>>> found;
    size_t left = 0;
  };
  auto g = std::make_shared<gathered>();
  std::vector<size_t> asked;
  for (size_t i = 0; i < b->errors.size(); ++i)
    if (b->errors[i].empty() && b->queries[i])
      asked.push_back(i);
  g->found.resize(asked.size(), result<std::vector<event>>{std::vector<event>{}});
  g->left = asked.size();
  auto render = [b, g, deliver = std::move(deliver)] {
    size_t next = 0;
    query_function replay = [&](const std::string&, const query_visitor& fn) -> result<size_t> {
      auto& found = g->found[next++];
      if (!found)
        return found.error();
      for (const auto& e : *found)
        fn(e);
      return found->size();
    };
    std::string out;
    render_answers(*b, {}, &replay, out);
    deliver(std::move(out));
  };
  if (asked.empty())
    return render();
  for (size_t slot = 0; slot < asked.size(); ++slot)
    query.later(*b->queries[asked[slot]], [g, slot, render](result<std::vector<event>> found) {
      {
        std::lock_guard lock{g->mtx};
        g->found[slot] = std::move(found);
        if (--g->left > 0)
          return;
      }
      render();
    });
}

}  // namespace dmon
