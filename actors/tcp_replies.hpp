// TCP answers: what one read's frames are answered with, and answers released in read order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "error.hpp"
#include "event.hpp"

namespace dmon {

using query_visitor = std::function<void(const event&)>;

/// How a connection's queries are answered (the index and query layers plug in here).
/// A node alone answers on the asking thread, page by page from its index; a cluster node
/// answers later, when every member answered or the timeout passed, so that no thread waits
/// for a silent member.
struct query_function {
  /// Calls the visitor with each matching index event and returns the number of matches,
  /// or ec::bad_query. The visitor only encodes, so a reply never needs a copy of every match.
  using visit_function = std::function<result<size_t>(const std::string&, const query_visitor&)>;
  /// Calls its second argument once, from any thread, with the matches or why there are none.
  using later_function =
      std::function<void(const std::string&, std::function<void(result<std::vector<event>>)>)>;

  query_function() = default;
  /// An answer on the asking thread.
  template <class F>
  requires(!std::is_same_v<std::decay_t<F>, query_function> &&
           std::is_invocable_r_v<result<size_t>, F&, const std::string&, const query_visitor&>)
      query_function(F f)
      : visit(std::move(f)) {}  // NOLINT: a callable is a query_function
  /// An answer later (a cluster-wide query).
  static query_function answered_later(later_function f) {
    query_function q;
    q.later = std::move(f);
    return q;
  }

  result<size_t> operator()(const std::string& text, const query_visitor& fn) const {
    return visit(text, fn);
  }

  visit_function visit;
  later_function later;
};

/// The frames of one read, as decoded: what each is answered with once its events ran.
struct frame_batch {
  /// Per frame: why it did not decode (empty: it did).
  std::vector<std::string> errors;
  /// Per frame: the query it carried, if any.
  std::vector<std::optional<std::string>> queries;
  /// A framing error after the frames (an oversized frame): answered last, then the
  /// connection closes.
  std::string fatal;
  /// Whether any frame carried a query (its answer reads the index: not on an I/O thread).
  bool has_query = false;

  /// Frames to answer, the fatal error's answer included.
  size_t answers() const { return errors.size() + (fatal.empty() ? 0 : 1); }
};

/// Appends the framed answers of `b` to `out`, in frame order: a frame's decode error, else
/// `stream_error` (its events did not run), else its query's matches (`query` must be set
/// when `b.has_query`), else ok; the fatal error last.
void render_answers(const frame_batch& b, const std::string& stream_error,
                    const query_function* query, std::string& out);

/// Renders the answers of `b` when its queries are answered later (`query.later` set): asks
/// every query of the batch at once and calls `deliver` with the framed answers, in frame
/// order, once the last of them came back (from the thread that answered it).
void render_answers_later(std::shared_ptr<const frame_batch> b, const query_function& query,
                          std::function<void(std::string)> deliver);

/// Releases a connection's answers in the order its reads came in, whatever order they are
/// ready in (a batch's shards, or a query answer rendered elsewhere, may finish late).
/// Plain data, touched only by the connection's I/O strand.
class reply_order {
 public:
  /// A read's batch answering `frames` frames; `close_after`: the connection closes after
  /// its answers. Returns the batch's sequence number.
  uint64_t open(size_t frames, bool close_after);

  /// The framed answers of batch `seq` are ready.
  void ready(uint64_t seq, std::string bytes);

  struct released {
    size_t frames = 0;
    bool close = false;
  };
  /// Appends the answers that are next in order to `out`; says how many frames they answer
  /// and whether the connection closes after them.
  released release(std::string& out);

  /// Batches opened and not yet released.
  size_t pending() const { return slots_.size(); }

 private:
  struct slot {
    size_t frames = 0;
    bool close = false;
    bool ready = false;
    std::string bytes;
  };
  std::deque<slot> slots_;
  uint64_t first_ = 0;  // sequence number of slots_.front()
};

}  // namespace dmon
