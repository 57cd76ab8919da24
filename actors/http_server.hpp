// dmon::http_server: health, metrics, index queries, WebSocket/SSE subscriptions, POST /events.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "counters.hpp"
#include "error.hpp"
#include "event.hpp"
#include "metrics.hpp"
#include "pubsub.hpp"

namespace dmon {

/// What the HTTP server asks the rest of the node. Every function runs on one
/// of the server's I/O threads, so each must return quickly and never wait on
/// Python or on an actor (what an actor answers comes back through a callback);
/// an empty function makes its endpoint answer 503.
struct http_handlers {
  /// GET /readyz: calls its argument once, from any thread (at once, or later: a cluster
  /// node asks its cluster actor), with whether the node is ready and why not. The I/O
  /// thread goes on serving other requests meanwhile.
  using ready_callback = std::function<void(std::pair<bool, std::string>)>;
  std::function<void(ready_callback)> ready;
  /// GET /metrics: the Prometheus text body.
  std::function<std::string()> metrics;
  /// GET /index?query=: the index events matching the query, or ec::bad_query.
  std::function<result<std::vector<event>>(const std::string&)> query;
  /// GET /index?query= and the first answer of a subscription when the answer comes later
  /// (a cluster-wide query: the members' shares merged): calls its second argument once,
  /// from any thread, with what `query` would return. The I/O thread goes on serving other
  /// requests meanwhile. Set, it is used instead of `query` (and `query_pages` is unset).
  using answer_callback = std::function<void(result<std::vector<event>>)>;
  std::function<void(const std::string&, answer_callback)> query_later;
  /// GET /index?query= streamed (HTTP/1.1): returns a source that appends the
  /// next page of matches to its argument and says whether more may follow
  /// (a page may be empty), or ec::bad_query. Without it GET /index answers
  /// from `query_later` or `query` in one body (a cluster-wide answer is merged
  /// in memory).
  using page_source = std::function<bool(std::vector<event>&)>;
  std::function<result<page_source>(const std::string&)> query_pages;
  /// GET /index?query=&scope=local: this node's own index only (no cluster scatter);
  /// unset means `query`.
  std::function<result<std::vector<event>>(const std::string&)> local_query;
  /// GET /cluster: calls its argument once, from any thread, with the JSON body (members,
  /// ownership, replicas, traffic), as `ready` does; unset: 404.
  using body_callback = std::function<void(std::string)>;
  std::function<void(body_callback)> cluster;
  /// GET /index?query=&scope=local streamed, as `query_pages` is for the default scope.
  std::function<result<page_source>(const std::string&)> local_query_pages;
  /// GET /history?query=&from=&to=&limit=: stored events (store() streams) with from <= time < to
  /// (unix microseconds), oldest first, at most `limit`.
  std::function<result<std::vector<event>>(const std::string& query, int64_t from_us, int64_t to_us,
                                           size_t limit)>
      history;
  /// POST /events and WS /events: takes decoded events and later calls `done`
  /// (from any thread, exactly once) with one outcome per event in order: an
  /// empty string for success, else the reason it failed.
  std::function<void(std::vector<event>, std::function<void(std::vector<std::string>)> done)>
      ingest;
};

/// The HTTP server's counters beyond the ingest listener_counters; atomics
/// written by its I/O threads, read by whoever renders metrics.
struct http_counters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> subscribers{0};
  std::atomic<uint64_t> subscribers_refused{0};
  std::atomic<uint64_t> subscribers_dropped_slow{0};
  std::atomic<uint64_t> events_out{0};
};

/// A Boost.Beast HTTP/1.1 and WebSocket server with its own io_context and
/// threads (RIEMANN.md §5.2–5.4). Endpoints (docs/http.md has the details):
///
/// - GET /healthz, GET /readyz, GET /metrics
/// - GET / and GET /web/<file>: the dashboard's static files from options::static_dir
/// - GET /index?query=Q: JSON array (HTTP/1.1: chunked, one chunk per page of
///   matches, never the whole array in memory); 400 with the parse error
/// - GET /index?query=Q with `Accept: text/event-stream`, or GET /sse/index?query=Q:
///   SSE, the current matches then live updates of channel "index"
/// - WS /index?query=Q[&subscribe=true]: one text frame per current match, then
///   (with subscribe) live updates of channel "index" filtered by Q
/// - WS /pubsub/TOPIC[?query=Q]: live updates of channel TOPIC
/// - POST /events (one JSON event per line) and WS /events (one per frame):
///   a reply line or frame each, `{}` or `{"error": "..."}`
///
/// Each subscriber has a bounded outgoing queue filled by `pubsub` callbacks
/// on the publishers' threads; when it is full the subscriber is disconnected
/// and counted, and the publisher goes on at once.
class http_server {
 public:
  /// Limits and threads. Every field has the documented default.
  struct options {
    /// Largest POST body or WebSocket message, in bytes. Default: 1 MiB.
    size_t max_body_bytes = 1 << 20;
    /// Most WebSocket (/index, /pubsub) and SSE subscriptions open at once. Default: 256.
    size_t max_subscribers = 256;
    /// Events waiting to be written to one subscriber before it is dropped. Default: 1024.
    size_t subscriber_queue = 1024;
    /// I/O threads. Default: 1.
    int threads = 1;
    /// Seconds a connection may take to send one request (headers and body). Default: 30.
    double request_timeout = 30;
    /// Folder of the dashboard's static files, served at GET / (its index.html) and
    /// GET /web/<file>. Empty: GET / answers 404. Default: empty.
    std::string static_dir;
  };

  /// `hub` must outlive the server.
  http_server(std::string address, uint16_t port, options opts, http_handlers handlers,
              pubsub& hub);

  /// Calls `stop()`.
  ~http_server();

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Binds, starts accepting and starts the I/O threads. Returns the bound
  /// port (useful with port 0), or an error naming the address.
  result<uint16_t> listen();

  /// Closes the listening socket and every connection, unsubscribes every
  /// subscriber, and joins the I/O threads. Idempotent; not from an I/O thread.
  void stop();

  /// Figures of events received over POST /events and WS /events (named
  /// "http ADDRESS:PORT" once listening); `queued` is unused.
  const listener_counters& ingest_counters() const;

  /// Returns a copy of the server's own counters.
  http_snapshot stats() const;

  /// The sessions' shared state; defined in http_server.cpp.
  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace dmon
