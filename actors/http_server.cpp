// HTTP server sessions on Boost.Beast: plain requests, WebSocket and SSE subscribers, event ingest.
#include "http_server.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "json_codec.hpp"

namespace dmon {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

constexpr auto relaxed = std::memory_order_relaxed;

std::string error_json(const std::string& message) {
  return nlohmann::json{{"error", message}}.dump(-1, ' ', false,
                                                 nlohmann::json::error_handler_t::replace);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// Percent-decoding; '+' is a space in query strings, as Java's URLDecoder (Riemann) has it.
std::string url_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    int hi, lo;
    if (s[i] == '%' && i + 2 < s.size() && (hi = hex_value(s[i + 1])) >= 0 &&
        (lo = hex_value(s[i + 2])) >= 0) {
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

struct target {
  std::string path;
  std::map<std::string, std::string> params;

  std::string param(const std::string& key) const {
    auto it = params.find(key);
    return it == params.end() ? std::string{} : it->second;
  }
};

target parse_target(std::string_view t) {
  target out;
  auto q = t.find('?');
  out.path = url_decode(t.substr(0, q), false);
  if (q == std::string_view::npos)
    return out;
  auto rest = t.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    if (!pair.empty())
      out.params[url_decode(pair.substr(0, eq), true)] =
          eq == std::string_view::npos ? std::string{} : url_decode(pair.substr(eq + 1), true);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
  }
  return out;
}

// The content type of a dashboard file, by its extension.
std::string_view content_type_of(std::string_view file) {
  static constexpr std::pair<std::string_view, std::string_view> types[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".png", "image/png"},
      {".svg", "image/svg+xml"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"}};
  for (auto [ext, type] : types)
    if (file.size() > ext.size() && file.ends_with(ext))
      return type;
  return "application/octet-stream";
}

// Whether `name` (a decoded path below /web/) names a plain file inside the
// folder: no "..", no absolute path, no backslash or NUL, no hidden files.
bool safe_static_name(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.find('\\') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos)
    return false;
  size_t start = 0;
  while (start <= name.size()) {
    auto slash = name.find('/', start);
    auto part = name.substr(start, slash == std::string_view::npos ? name.npos : slash - start);
    if (part.empty() || part.front() == '.')
      return false;
    if (slash == std::string_view::npos)
      break;
    start = slash + 1;
  }
  return true;
}

bool wants_event_stream(const request& req) {
  auto accept = req[http::field::accept];
  return accept.find("text/event-stream") != beast::string_view::npos;
}

// Cross-thread posts (pubsub kicks, ingest replies) go through the gate, which
// stop() closes before it tears the sessions down: nothing posts afterwards.
class gate {
 public:
  template <class F>
  void post(const net::any_io_executor& ex, F&& f) {
    std::lock_guard guard{mtx_};
    if (open_)
      net::post(ex, std::forward<F>(f));
  }

  void close() {
    std::lock_guard guard{mtx_};
    open_ = false;
  }

 private:
  std::mutex mtx_;
  bool open_ = true;
};

class subscriber_session;

// One subscriber's bounded queue, filled by pubsub callbacks on publisher
// threads and emptied one event at a time by the session's strand.
class outbox {
 public:
  outbox(size_t capacity, std::shared_ptr<gate> g, net::any_io_executor ex)
      : capacity_(capacity == 0 ? 1 : capacity), gate_(std::move(g)), ex_(std::move(ex)) {}

  void owner(std::weak_ptr<subscriber_session> s) {
    std::lock_guard guard{mtx_};
    owner_ = std::move(s);
  }

  void push(const event& e);

  std::optional<event> take_one() {
    std::lock_guard guard{mtx_};
    if (queue_.empty()) {
      kicked_ = false;
      return std::nullopt;
    }
    auto e = std::move(queue_.front());
    queue_.pop_front();
    return e;
  }

  void close() {
    std::lock_guard guard{mtx_};
    closed_ = true;
    queue_.clear();
  }

  size_t capacity() const { return capacity_; }

  /// Whether the queue overflowed; the session then ends.
  bool overflowed() {
    std::lock_guard guard{mtx_};
    return overflowed_;
  }

 private:
  std::mutex mtx_;
  std::deque<event> queue_;
  size_t capacity_;
  bool closed_ = false;
  bool overflowed_ = false;
  // A pump is scheduled or running; it empties the queue before clearing this.
  bool kicked_ = false;
  std::shared_ptr<gate> gate_;
  net::any_io_executor ex_;
  std::weak_ptr<subscriber_session> owner_;
};

class session_base;

}  // namespace

struct http_server::impl : std::enable_shared_from_this<impl> {
  impl(std::string addr, uint16_t p, options o, http_handlers h, pubsub& ps)
      : address(std::move(addr)), port(p), opts(o), handlers(std::move(h)), hub(ps) {}

  void accept();

  std::string address;
  uint16_t port;
  options opts;
  http_handlers handlers;
  pubsub& hub;
  std::string name;
  listener_counters ingest;
  http_counters counters;
  std::shared_ptr<gate> posts = std::make_shared<gate>();
  net::io_context ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::mutex sessions_mtx;
  std::unordered_map<void*, std::weak_ptr<session_base>> sessions;
  bool stopped = false;
};

namespace {

using impl_ptr = std::shared_ptr<http_server::impl>;

// Every connection's object; registered so stop() can close what is still open.
class session_base : public std::enable_shared_from_this<session_base> {
 public:
  explicit session_base(impl_ptr srv) : srv_(std::move(srv)) {
    srv_->ingest.connections.fetch_add(1, relaxed);
  }

  virtual ~session_base() {
    srv_->ingest.connections.fetch_sub(1, relaxed);
    std::lock_guard guard{srv_->sessions_mtx};
    srv_->sessions.erase(this);
  }

  void track() {
    std::lock_guard guard{srv_->sessions_mtx};
    srv_->sessions[this] = weak_from_this();
  }

  /// Closes the socket; only called by stop() once the I/O threads are joined.
  virtual void close_now() = 0;

 protected:
  impl_ptr srv_;
};

// A reserved subscriber slot plus its pubsub subscription; released once.
class subscription {
 public:
  subscription(impl_ptr srv) : srv_(std::move(srv)) {}
  subscription(const subscription&) = delete;
  subscription& operator=(const subscription&) = delete;
  ~subscription() { release(); }

  void attach(std::shared_ptr<outbox> box, pubsub::subscription_id id) {
    box_ = std::move(box);
    id_ = id;
  }

  void release() {
    if (!srv_)
      return;
    if (box_)
      box_->close();
    if (id_ != 0)
      srv_->hub.unsubscribe(id_);
    srv_->counters.subscribers.fetch_sub(1, relaxed);
    srv_.reset();
  }

 private:
  impl_ptr srv_;
  std::shared_ptr<outbox> box_;
  pubsub::subscription_id id_ = 0;
};

// Writes a snapshot, then (when live) what its outbox receives, one message at a time.
class subscriber_session : public session_base {
 public:
  subscriber_session(impl_ptr srv, std::unique_ptr<subscription> sub, std::shared_ptr<outbox> box,
                     std::deque<std::string> snapshot, std::string peer)
      : session_base(std::move(srv)),
        sub_(std::move(sub)),
        box_(std::move(box)),
        pending_(std::move(snapshot)),
        peer_(std::move(peer)) {}

  void on_kick() { pump(); }

  void opened() {
    open_ = true;
    pump();
  }

  // The snapshot comes from `pages` a page at a time as the client takes it,
  // instead of all at once, so a subscription to `true` never holds every match.
  void snapshot_pages(http_handlers::page_source pages) { pages_ = std::move(pages); }

  // The peer went away or the session ended: stop receiving at once.
  void end() {
    done_ = true;
    if (sub_)
      sub_->release();
  }

  void on_overflow() {
    if (done_)
      return;
    // Released before it is counted: whoever sees the count sees the slot free.
    end();
    srv_->counters.subscribers_dropped_slow.fetch_add(1, relaxed);
    spdlog::warn(
        "http: dropping subscriber {}: it did not keep up and its queue of {} events is full "
        "(a slow consumer; the client must read faster or subscribe to a narrower query)",
        peer_, box_ ? box_->capacity() : 0);
    abort();
  }

 protected:
  virtual void send(std::string text, std::function<void(beast::error_code)> done) = 0;
  virtual void finish() = 0;
  virtual void abort() = 0;

  std::shared_ptr<subscriber_session> self() {
    return std::static_pointer_cast<subscriber_session>(shared_from_this());
  }

  void pump() {
    if (!open_ || writing_ || done_)
      return;
    // An overflow before the session was ready had nobody to tell; catch it here.
    if (box_ && box_->overflowed())
      return on_overflow();
    std::string text;
    if (pending_.empty() && pages_) {
      std::vector<event> page;
      bool more = true;
      // Pages may come back empty (a sparse scan); read on until one has matches or the walk ends.
      while (more && page.empty())
        more = pages_(page);
      if (!more)
        pages_ = nullptr;
      for (auto& e : page)
        pending_.push_back(json_codec::encode(e, true, true));
    }
    if (!pending_.empty()) {
      text = std::move(pending_.front());
      pending_.pop_front();
    } else if (auto e = box_ ? box_->take_one() : std::nullopt) {
      text = json_codec::encode(*e, true, true);
    } else {
      if (!box_) {
        end();
        finish();
      }
      return;
    }
    writing_ = true;
    send(std::move(text), [self = self()](beast::error_code ec) {
      self->writing_ = false;
      if (ec) {
        self->end();
        self->abort();
        return;
      }
      self->srv_->counters.events_out.fetch_add(1, relaxed);
      self->pump();
    });
  }

  std::unique_ptr<subscription> sub_;
  std::shared_ptr<outbox> box_;
  std::deque<std::string> pending_;
  http_handlers::page_source pages_;
  std::string peer_;
  bool open_ = false;
  bool writing_ = false;
  bool done_ = false;
};

void outbox::push(const event& e) {
  std::lock_guard guard{mtx_};
  if (closed_)
    return;
  if (queue_.size() >= capacity_) {
    closed_ = true;
    overflowed_ = true;
    queue_.clear();
    gate_->post(ex_, [w = owner_] {
      if (auto s = w.lock())
        s->on_overflow();
    });
    return;
  }
  queue_.push_back(e);
  if (!kicked_) {
    kicked_ = true;
    gate_->post(ex_, [w = owner_] {
      if (auto s = w.lock())
        s->on_kick();
    });
  }
}

class ws_subscriber final : public subscriber_session {
 public:
  ws_subscriber(impl_ptr srv, beast::tcp_stream stream, request req,
                std::unique_ptr<subscription> sub, std::shared_ptr<outbox> box,
                std::deque<std::string> snapshot, std::string peer)
      : subscriber_session(std::move(srv), std::move(sub), std::move(box), std::move(snapshot),
                           std::move(peer)),
        ws_(std::move(stream)),
        req_(std::move(req)) {}

  void start() {
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "dmon"); }));
    ws_.read_message_max(srv_->opts.max_body_bytes);
    ws_.async_accept(req_, [self = self()](beast::error_code ec) {
      if (ec) {
        self->end();
        return;
      }
      static_cast<ws_subscriber&>(*self).read();
      self->opened();
    });
  }

  void close_now() override {
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 private:
  // Subscribers send nothing Riemann answers, but reading is how close frames and EOF arrive.
  void read() {
    ws_.async_read(in_, [self = self()](beast::error_code ec, size_t) {
      auto& me = static_cast<ws_subscriber&>(*self);
      if (ec) {
        me.end();
        return;
      }
      me.in_.consume(me.in_.size());
      me.read();
    });
  }

  void send(std::string text, std::function<void(beast::error_code)> done) override {
    out_ = std::move(text);
    ws_.text(true);
    ws_.async_write(net::buffer(out_),
                    [done = std::move(done)](beast::error_code ec, size_t) { done(ec); });
  }

  void finish() override {
    ws_.async_close(websocket::close_code::normal, [self = self()](beast::error_code) {});
  }

  void abort() override { close_now(); }

  websocket::stream<beast::tcp_stream> ws_;
  request req_;
  beast::flat_buffer in_;
  std::string out_;
};

class sse_subscriber final : public subscriber_session {
 public:
  sse_subscriber(impl_ptr srv, beast::tcp_stream stream, std::unique_ptr<subscription> sub,
                 std::shared_ptr<outbox> box, std::deque<std::string> snapshot, std::string peer)
      : subscriber_session(std::move(srv), std::move(sub), std::move(box), std::move(snapshot),
                           std::move(peer)),
        stream_(std::move(stream)) {}

  void start() {
    stream_.expires_never();
    // No Content-Length and no chunking: the body runs until either side closes,
    // which every EventSource and curl understand.
    out_ =
        "HTTP/1.1 200 OK\r\n"
        "Server: dmon\r\n"
        "Content-Type: text/event-stream\r\n"
        "Cache-Control: no-cache\r\n"
        "X-Accel-Buffering: no\r\n"
        "\r\n";
    net::async_write(stream_, net::buffer(out_), [self = self()](beast::error_code ec, size_t) {
      if (ec) {
        self->end();
        return;
      }
      static_cast<sse_subscriber&>(*self).read();
      self->opened();
    });
  }

  void close_now() override {
    beast::error_code ignored;
    stream_.socket().close(ignored);
  }

 private:
  void read() {
    stream_.async_read_some(net::buffer(in_), [self = self()](beast::error_code ec, size_t) {
      auto& me = static_cast<sse_subscriber&>(*self);
      if (ec) {
        me.end();
        me.abort();
        return;
      }
      me.read();
    });
  }

  void send(std::string text, std::function<void(beast::error_code)> done) override {
    out_ = "data: " + text + "\n\n";
    net::async_write(stream_, net::buffer(out_),
                     [done = std::move(done)](beast::error_code ec, size_t) { done(ec); });
  }

  void finish() override {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    close_now();
  }

  void abort() override { close_now(); }

  beast::tcp_stream stream_;
  std::array<char, 512> in_;
  std::string out_;
};

// WebSocket /events: one JSON event per text frame, one reply frame each, in order.
class ws_ingest final : public session_base {
 public:
  ws_ingest(impl_ptr srv, beast::tcp_stream stream, request req)
      : session_base(std::move(srv)), ws_(std::move(stream)), req_(std::move(req)) {}

  void start() {
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "dmon"); }));
    ws_.read_message_max(srv_->opts.max_body_bytes);
    ws_.async_accept(req_, [self = self()](beast::error_code ec) {
      if (!ec)
        self->read();
    });
  }

  void close_now() override {
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 private:
  std::shared_ptr<ws_ingest> self() {
    return std::static_pointer_cast<ws_ingest>(shared_from_this());
  }

  void read() {
    ws_.async_read(in_, [self = self()](beast::error_code ec, size_t n) { self->on_read(ec, n); });
  }

  void on_read(beast::error_code ec, size_t n) {
    if (ec == websocket::error::message_too_big) {
      // Beast has already sent close code 1009 (message too big).
      srv_->ingest.too_large.fetch_add(1, relaxed);
      spdlog::warn("http: closed WebSocket /events: a message exceeded max_body_bytes ({} bytes)",
                   srv_->opts.max_body_bytes);
      return;
    }
    if (ec)
      return;
    srv_->ingest.messages.fetch_add(1, relaxed);
    srv_->ingest.bytes.fetch_add(n, relaxed);
    auto text = beast::buffers_to_string(in_.data());
    in_.consume(in_.size());
    auto decoded = json_codec::decode(text, now_micros());
    if (!decoded) {
      srv_->ingest.messages_rejected.fetch_add(1, relaxed);
      reply(error_json(decoded.error().message));
      return;
    }
    if (!srv_->handlers.ingest) {
      reply(error_json("this server does not accept events (no ingest handler configured)"));
      return;
    }
    std::vector<event> batch;
    batch.push_back(std::move(*decoded));
    auto ex = ws_.get_executor();
    srv_->handlers.ingest(
        std::move(batch), [self = self(), ex, g = srv_->posts](std::vector<std::string> outcomes) {
          g->post(ex, [self, outcomes = std::move(outcomes)] { self->on_outcome(outcomes); });
        });
  }

  void on_outcome(const std::vector<std::string>& outcomes) {
    if (!outcomes.empty() && outcomes[0].empty()) {
      srv_->ingest.events_accepted.fetch_add(1, relaxed);
      reply("{}");
      return;
    }
    srv_->ingest.dropped_events.fetch_add(1, relaxed);
    reply(
        error_json(outcomes.empty() ? "the node returned no outcome for this event" : outcomes[0]));
  }

  void reply(std::string text) {
    out_ = std::move(text);
    ws_.text(true);
    ws_.async_write(net::buffer(out_), [self = self()](beast::error_code ec, size_t) {
      if (!ec)
        self->read();
    });
  }

  websocket::stream<beast::tcp_stream> ws_;
  request req_;
  beast::flat_buffer in_;
  std::string out_;
};

// A plain HTTP/1.1 connection: reads requests and answers them, or hands the
// socket to a WebSocket or SSE session.
class http_session final : public session_base {
 public:
  http_session(impl_ptr srv, tcp::socket socket)
      : session_base(std::move(srv)), stream_(std::move(socket)) {}

  void start() {
    net::dispatch(stream_.get_executor(), [self = self()] { self->read(); });
  }

  void close_now() override {
    beast::error_code ignored;
    stream_.socket().close(ignored);
  }

 private:
  std::shared_ptr<http_session> self() {
    return std::static_pointer_cast<http_session>(shared_from_this());
  }

  std::string peer() {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    return ec ? std::string{"?"} : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  void read() {
    parser_.emplace();
    parser_->body_limit(srv_->opts.max_body_bytes);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(
        std::chrono::milliseconds{static_cast<int64_t>(srv_->opts.request_timeout * 1000)});
    http::async_read(stream_, buf_, *parser_,
                     [self = self()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == beast::error::timeout || ec == net::error::connection_reset || ec == net::error::eof)
      return close_now();
    if (ec == http::error::body_limit) {
      srv_->ingest.too_large.fetch_add(1, relaxed);
      return fail(http::status::payload_too_large,
                  "request body exceeds max_body_bytes (" +
                      std::to_string(srv_->opts.max_body_bytes) +
                      " bytes); send fewer events per request or raise the HTTP body limit");
    }
    if (ec == http::error::header_limit)
      return fail(http::status::request_header_fields_too_large,
                  "request headers exceed 64 KiB; shorten the URL or the query");
    if (ec)
      return fail(http::status::bad_request, "malformed HTTP request: " + ec.message());
    srv_->counters.requests.fetch_add(1, relaxed);
    handle(parser_->release());
  }

  // Answers an unreadable request and closes, after letting the client finish
  // sending: closing with unread bytes would reset the connection and lose the answer.
  void fail(http::status status, const std::string& message) {
    auto res = std::make_shared<response>(status, 11);
    res->set(http::field::server, "dmon");
    res->set(http::field::content_type, "application/json");
    res->keep_alive(false);
    res->body() = error_json(message) + "\n";
    res->prepare_payload();
    http::async_write(stream_, *res, [self = self(), res](beast::error_code ec, size_t) {
      if (ec)
        return self->close_now();
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      self->stream_.expires_after(std::chrono::seconds{5});
      self->discard();
    });
  }

  void discard() {
    stream_.async_read_some(net::buffer(junk_), [self = self()](beast::error_code ec, size_t) {
      if (ec)
        return self->close_now();
      self->discard();
    });
  }

  void respond(const request& req, http::status status, std::string body,
               beast::string_view content_type) {
    auto res = std::make_shared<response>(status, req.version());
    res->set(http::field::server, "dmon");
    res->set(http::field::content_type, content_type);
    res->keep_alive(req.keep_alive());
    if (req.method() != http::verb::head)
      res->body() = std::move(body);
    res->prepare_payload();
    http::async_write(stream_, *res, [self = self(), res](beast::error_code ec, size_t) {
      if (ec || res->need_eof())
        return self->close_now();
      self->read();
    });
  }

  void respond_error(const request& req, http::status status, const std::string& message) {
    respond(req, status, error_json(message) + "\n", "application/json");
  }

  void handle(request req) {
    auto t = parse_target(std::string_view{req.target().data(), req.target().size()});
    bool upgrade = websocket::is_upgrade(req);
    bool get = req.method() == http::verb::get || req.method() == http::verb::head;
    auto not_allowed = [&](const char* allowed) {
      respond_error(
          req, http::status::method_not_allowed,
          std::string{req.method_string()} + " is not allowed on " + t.path + "; use " + allowed);
    };
    if (t.path == "/" || t.path == "/index.html")
      return get ? static_file(req, "index.html") : not_allowed("GET");
    if (t.path.starts_with("/web/"))
      return get ? static_file(req, t.path.substr(5)) : not_allowed("GET");
    if (t.path == "/healthz")
      return get ? respond(req, http::status::ok, "ok\n", "text/plain") : not_allowed("GET");
    if (t.path == "/readyz")
      return get ? readyz(req) : not_allowed("GET");
    if (t.path == "/metrics")
      return get ? metrics(req) : not_allowed("GET");
    if (t.path == "/index" || t.path == "/sse/index") {
      if (!get)
        return not_allowed("GET");
      bool sse = t.path == "/sse/index" || wants_event_stream(req);
      if (upgrade || sse)
        return subscribe(std::move(req), "index", t.param("query"), true,
                         !upgrade || t.param("subscribe") == "true", upgrade);
      if (t.param("scope") == "local" && srv_->handlers.local_query)
        return query(req, t.param("query"), srv_->handlers.local_query,
                     srv_->handlers.local_query_pages, nullptr);
      return query(req, t.param("query"), srv_->handlers.query, srv_->handlers.query_pages,
                   &srv_->handlers.query_later);
    }
    if (t.path == "/cluster" && srv_->handlers.cluster)
      return get ? cluster(req) : not_allowed("GET");
    if (t.path.starts_with("/pubsub/") && t.path.size() > 8) {
      if (!get)
        return not_allowed("GET");
      if (!upgrade && !wants_event_stream(req))
        return respond_error(req, http::status::bad_request,
                             "/pubsub/<topic> streams events: open it as a WebSocket or with "
                             "'Accept: text/event-stream'");
      return subscribe(std::move(req), t.path.substr(8), t.param("query"), false, true, upgrade);
    }
    if (t.path == "/history")
      return get ? history(req, t) : not_allowed("GET");
    if (t.path == "/events") {
      if (upgrade) {
        auto s = std::make_shared<ws_ingest>(srv_, std::move(stream_), std::move(req));
        s->track();
        return s->start();
      }
      return req.method() == http::verb::post ? post_events(req) : not_allowed("POST");
    }
    respond_error(req, http::status::not_found,
                  "no endpoint " + t.path +
                      "; try / (the dashboard), /healthz, /readyz, /metrics, /index?query=..., "
                      "/history, /pubsub/<topic>, /events (see docs/http-api.md)");
  }

  // GET / and /web/<name>: a file of the dashboard from options::static_dir.
  void static_file(const request& req, const std::string& name) {
    const auto& dir = srv_->opts.static_dir;
    if (!safe_static_name(name))
      return respond_error(req, http::status::not_found,
                           "no dashboard file '" + name +
                               "': names may not be empty, start with '.' or contain '..'");
    if (dir.empty())
      return respond_error(req, http::status::not_found,
                           "no dashboard file '" + name + "': this server has no static_dir");
    auto path = dir + "/" + name;
    std::error_code ec;
    std::ifstream in;
    if (std::filesystem::is_regular_file(path, ec))
      in.open(path, std::ios::binary);
    std::ostringstream body;
    if (in.is_open())
      body << in.rdbuf();
    if (!in.is_open() || in.bad())
      return respond_error(req, http::status::not_found,
                           "no dashboard file '" + name + "' in " + dir);
    auto type = content_type_of(name);
    respond(req, http::status::ok, std::move(body).str(),
            beast::string_view{type.data(), type.size()});
  }

  // Readiness and /cluster may wait on the cluster actor (up to its timeout): answered later,
  // like a cluster-wide query, so that /healthz and every other session go on meanwhile.
  void readyz(const request& req) {
    if (!srv_->handlers.ready)
      return respond(req, http::status::service_unavailable, "not ready: no readiness check\n",
                     "text/plain");
    auto asked = std::make_shared<request>(req);
    answer_later<std::pair<bool, std::string>>(
        srv_->handlers.ready, [this, asked](std::pair<bool, std::string> answer) {
          auto& [ok, reason] = answer;
          if (ok)
            return respond(*asked, http::status::ok, "ready\n", "text/plain");
          respond(*asked, http::status::service_unavailable, "not ready: " + reason + "\n",
                  "text/plain");
        });
  }

  void cluster(const request& req) {
    auto asked = std::make_shared<request>(req);
    answer_later<std::string>(srv_->handlers.cluster, [this, asked](std::string body) {
      respond(*asked, http::status::ok, std::move(body), "application/json");
    });
  }

  void metrics(const request& req) {
    if (!srv_->handlers.metrics)
      return respond_error(req, http::status::service_unavailable, "no metrics configured");
    respond(req, http::status::ok, srv_->handlers.metrics(),
            "text/plain; version=0.0.4; charset=utf-8");
  }

  void history(const request& req, const target& t) {
    if (!srv_->handlers.history)
      return respond_error(req, http::status::service_unavailable, "this server keeps no history");
    auto time_param = [&](const char* name, int64_t fallback) -> std::optional<int64_t> {
      auto v = t.param(name);
      return v.empty() ? std::optional<int64_t>{fallback} : json_codec::parse_time(v);
    };
    auto from = time_param("from", 0);
    auto to = time_param("to", now_micros() + 1);
    if (!from || !to)
      return respond_error(req, http::status::bad_request,
                           "from and to must be unix seconds or ISO-8601 times, e.g. "
                           "from=2026-01-01T00:00:00Z&to=1767225600");
    size_t limit = 1000;
    if (auto l = t.param("limit"); !l.empty()) {
      char* end = nullptr;
      limit = std::strtoull(l.c_str(), &end, 10);
      if (end != l.c_str() + l.size() || limit == 0 || limit > 100000)
        return respond_error(req, http::status::bad_request,
                             "limit must be a whole number from 1 to 100000");
    }
    auto found = srv_->handlers.history(t.param("query"), *from, *to, limit);
    if (!found)
      return respond_error(req, http::status::bad_request, found.error().message);
    respond_events(req, *found);
  }

  void respond_events(const request& req, const std::vector<event>& events) {
    std::string body = "[";
    for (size_t i = 0; i < events.size(); ++i) {
      if (i > 0)
        body += ',';
      body += json_codec::encode(events[i], true, true);
    }
    body += "]\n";
    respond(req, http::status::ok, std::move(body), "application/json");
  }

  // The JSON array of an index query, written as one HTTP chunk per page of
  // matches, so the whole answer never sits in memory: the pager holds the
  // index lock only while it reads a page, and the next page is read only
  // after the previous chunk went out.
  struct query_stream {
    http_handlers::page_source next;
    bool more = true;
    bool any = false;
    bool keep_alive = true;
    std::string chunk;
  };

  void stream_query(const request& req, http_handlers::page_source next) {
    auto qs = std::make_shared<query_stream>();
    qs->next = std::move(next);
    qs->keep_alive = req.keep_alive();
    auto res = std::make_shared<http::response<http::empty_body>>(http::status::ok, req.version());
    res->set(http::field::server, "dmon");
    res->set(http::field::content_type, "application/json");
    res->keep_alive(qs->keep_alive);
    res->chunked(true);
    auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*res);
    qs->chunk = "[";
    stream_.expires_after(
        std::chrono::milliseconds{static_cast<int64_t>(srv_->opts.request_timeout * 1000)});
    http::async_write_header(stream_, *sr,
                             [self = self(), res, sr, qs](beast::error_code ec, size_t) {
                               if (ec)
                                 return self->close_now();
                               self->write_page(qs);
                             });
  }

  void write_page(const std::shared_ptr<query_stream>& qs) {
    std::vector<event> page;
    // Pages may come back empty (a sparse scan); read on until one has matches or the walk ends.
    while (qs->more && page.empty())
      qs->more = qs->next(page);
    for (auto& e : page) {
      if (qs->any)
        qs->chunk += ',';
      qs->any = true;
      qs->chunk += json_codec::encode(e, true, true);
    }
    if (!qs->more)
      qs->chunk += "]\n";
    stream_.expires_after(
        std::chrono::milliseconds{static_cast<int64_t>(srv_->opts.request_timeout * 1000)});
    net::async_write(stream_, http::make_chunk(net::buffer(qs->chunk)),
                     [self = self(), qs](beast::error_code ec, size_t) {
                       if (ec)
                         return self->close_now();
                       qs->chunk.clear();
                       if (qs->more)
                         return self->write_page(qs);
                       net::async_write(self->stream_, http::make_chunk_last(),
                                        [self, qs](beast::error_code ec, size_t) {
                                          if (ec || !qs->keep_alive)
                                            return self->close_now();
                                          self->read();
                                        });
                     });
  }

  using answer_function = std::function<result<std::vector<event>>(const std::string&)>;
  using pages_function = std::function<result<http_handlers::page_source>(const std::string&)>;
  using later_function = decltype(http_handlers::query_later);

  // Runs `then` on this session's I/O thread with the value `ask` hands its callback, from
  // whichever thread it does; the I/O thread serves other sessions meanwhile. The session
  // reads nothing while it waits (one request at a time), and nothing arrives once the
  // server stopped (the gate).
  template <class T, class Ask, class Then>
  void answer_later(const Ask& ask, Then then) {
    ask(std::function<void(T)>{[self = self(), ex = stream_.get_executor(), g = srv_->posts,
                                then = std::move(then)](T value) mutable {
      g->post(ex, [self, then = std::move(then), value = std::move(value)]() mutable {
        self->stream_.expires_after(std::chrono::milliseconds{
            static_cast<int64_t>(self->srv_->opts.request_timeout * 1000)});
        then(std::move(value));
      });
    }});
  }

  // A query's answer later: `later` for `text`.
  template <class Then>
  void answer_later(const later_function& later, const std::string& text, Then then) {
    answer_later<result<std::vector<event>>>(
        [&](http_handlers::answer_callback done) { later(text, std::move(done)); },
        std::move(then));
  }

  void query(const request& req, const std::string& text, const answer_function& answer,
             const pages_function& pages, const later_function* later) {
    // Chunked needs HTTP/1.1, and HEAD has no body to stream.
    if (pages && req.version() >= 11 && req.method() == http::verb::get) {
      auto source = pages(text);
      if (!source)
        return respond_error(req, http::status::bad_request, source.error().message);
      return stream_query(req, std::move(*source));
    }
    if (later && *later) {
      auto asked = std::make_shared<request>(req);
      return answer_later(*later, text, [this, asked](result<std::vector<event>> found) {
        answered(*asked, found);
      });
    }
    if (!answer)
      return respond_error(req, http::status::service_unavailable,
                           "this server has no index to query");
    answered(req, answer(text));
  }

  void answered(const request& req, const result<std::vector<event>>& found) {
    if (!found)
      return respond_error(req,
                           found.error().code == ec::unreachable ? http::status::service_unavailable
                                                                 : http::status::bad_request,
                           found.error().message);
    respond_events(req, *found);
  }

  // WebSocket or SSE subscription: reserve a slot, subscribe (before the
  // snapshot, so no update falls between the two), take the snapshot, hand over.
  void subscribe(request req, std::string channel, const std::string& text, bool snapshot,
                 bool live, bool websocket) {
    auto max = srv_->opts.max_subscribers;
    if (srv_->counters.subscribers.fetch_add(1, relaxed) >= max) {
      srv_->counters.subscribers.fetch_sub(1, relaxed);
      srv_->counters.subscribers_refused.fetch_add(1, relaxed);
      return respond_error(req, http::status::service_unavailable,
                           "too many subscribers: max_subscribers (" + std::to_string(max) +
                               ") WebSocket/SSE subscriptions are open; close idle dashboards "
                               "or raise the HTTP subscriber limit");
    }
    auto sub = std::make_unique<subscription>(srv_);
    // The slot and subscription go before the answer is written: a client that
    // sees the refusal must also see the slot free.
    auto refuse = [&](http::status status, const std::string& message) {
      sub.reset();
      respond_error(req, status, message);
    };
    std::optional<query::predicate> filter;
    if (live && !text.empty()) {
      auto parsed = query::parse_cached(text);
      if (!parsed)
        return refuse(http::status::bad_request, parsed.error().message);
      filter = std::move(*parsed);
    } else if (live && snapshot) {
      return refuse(http::status::bad_request,
                    "a live /index subscription needs a query, e.g. ?query=true for "
                    "every event or ?query=service%20%3D%20%22cpu%22");
    }
    std::shared_ptr<outbox> box;
    if (live) {
      box = std::make_shared<outbox>(srv_->opts.subscriber_queue, srv_->posts,
                                     stream_.get_executor());
      auto id =
          srv_->hub.subscribe(channel, std::move(filter), [box](const event& e) { box->push(e); });
      sub->attach(box, id);
    }
    std::deque<std::string> first;
    http_handlers::page_source pages;
    if (snapshot && srv_->handlers.query_pages) {
      auto found = srv_->handlers.query_pages(text);
      if (!found)
        return refuse(http::status::bad_request, found.error().message);
      pages = std::move(*found);
    } else if (snapshot && srv_->handlers.query_later) {
      // The subscription is live already (updates queue in its outbox, bounded) while the
      // members answer; the snapshot goes first once they did.
      struct waiting {
        request req;
        std::unique_ptr<subscription> sub;
        std::shared_ptr<outbox> box;
      };
      auto w = std::make_shared<waiting>(waiting{std::move(req), std::move(sub), std::move(box)});
      return answer_later(srv_->handlers.query_later, text,
                          [this, w, websocket](result<std::vector<event>> found) {
                            if (!found) {
                              w->sub.reset();
                              return respond_error(w->req,
                                                   found.error().code == ec::unreachable
                                                       ? http::status::service_unavailable
                                                       : http::status::bad_request,
                                                   found.error().message);
                            }
                            std::deque<std::string> first;
                            for (auto& e : *found)
                              first.push_back(json_codec::encode(e, true, true));
                            start_subscriber(std::move(w->req), std::move(w->sub),
                                             std::move(w->box), std::move(first), {}, websocket);
                          });
    } else if (snapshot) {
      if (!srv_->handlers.query)
        return refuse(http::status::service_unavailable, "this server has no index to query");
      auto found = srv_->handlers.query(text);
      if (!found)
        return refuse(found.error().code == ec::unreachable ? http::status::service_unavailable
                                                            : http::status::bad_request,
                      found.error().message);
      for (auto& e : *found)
        first.push_back(json_codec::encode(e, true, true));
    }
    start_subscriber(std::move(req), std::move(sub), std::move(box), std::move(first),
                     std::move(pages), websocket);
  }

  // Hands the connection to a WebSocket or SSE subscriber session that writes `first` (or
  // `pages`) and then, when live, what `box` receives.
  void start_subscriber(request req, std::unique_ptr<subscription> sub, std::shared_ptr<outbox> box,
                        std::deque<std::string> first, http_handlers::page_source pages,
                        bool websocket) {
    auto who = peer();
    std::shared_ptr<subscriber_session> s;
    if (websocket) {
      auto ws = std::make_shared<ws_subscriber>(srv_, std::move(stream_), std::move(req),
                                                std::move(sub), box, std::move(first), who);
      s = ws;
      if (pages)
        ws->snapshot_pages(std::move(pages));
      if (box)
        box->owner(s);
      ws->track();
      ws->start();
    } else {
      auto sse = std::make_shared<sse_subscriber>(srv_, std::move(stream_), std::move(sub), box,
                                                  std::move(first), who);
      s = sse;
      if (pages)
        sse->snapshot_pages(std::move(pages));
      if (box)
        box->owner(s);
      sse->track();
      sse->start();
    }
  }

  // POST /events: one JSON event per line; one reply line each, in order.
  void post_events(const request& req) {
    auto& in = srv_->ingest;
    in.bytes.fetch_add(req.body().size(), relaxed);
    auto replies = std::make_shared<std::vector<std::string>>();
    std::vector<size_t> slots;
    std::vector<event> batch;
    auto now = now_micros();
    std::string_view body{req.body()};
    while (!body.empty()) {
      auto nl = body.find('\n');
      auto line = body.substr(0, nl);
      body = nl == std::string_view::npos ? std::string_view{} : body.substr(nl + 1);
      if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
      if (line.find_first_not_of(" \t") == std::string_view::npos)
        continue;
      in.messages.fetch_add(1, relaxed);
      auto decoded = json_codec::decode(line, now);
      if (!decoded) {
        in.messages_rejected.fetch_add(1, relaxed);
        replies->push_back(error_json(decoded.error().message));
        continue;
      }
      slots.push_back(replies->size());
      replies->emplace_back();
      batch.push_back(std::move(*decoded));
    }
    if (!batch.empty() && !srv_->handlers.ingest) {
      for (auto slot : slots)
        (*replies)[slot] =
            error_json("this server does not accept events (no ingest handler configured)");
      batch.clear();
    }
    auto keep_alive = req.keep_alive();
    auto version = req.version();
    if (batch.empty())
      return answer_events(*replies, version, keep_alive);
    auto ex = stream_.get_executor();
    srv_->handlers.ingest(
        std::move(batch), [self = self(), ex, g = srv_->posts, replies, slots = std::move(slots),
                           version, keep_alive](std::vector<std::string> outcomes) mutable {
          g->post(ex, [self, replies, slots = std::move(slots), outcomes = std::move(outcomes),
                       version, keep_alive] {
            for (size_t i = 0; i < slots.size(); ++i) {
              auto& r = (*replies)[slots[i]];
              if (i < outcomes.size() && outcomes[i].empty()) {
                self->srv_->ingest.events_accepted.fetch_add(1, relaxed);
                r = "{}";
              } else {
                self->srv_->ingest.dropped_events.fetch_add(1, relaxed);
                r = error_json(i < outcomes.size() ? outcomes[i]
                                                   : "the node returned no outcome for this event");
              }
            }
            self->answer_events(*replies, version, keep_alive);
          });
        });
  }

  void answer_events(const std::vector<std::string>& replies, unsigned version, bool keep_alive) {
    auto res = std::make_shared<response>(http::status::ok, version);
    res->set(http::field::server, "dmon");
    res->set(http::field::content_type, "application/x-ndjson");
    res->keep_alive(keep_alive);
    for (auto& r : replies)
      res->body() += r + "\n";
    res->prepare_payload();
    http::async_write(stream_, *res, [self = self(), res](beast::error_code ec, size_t) {
      if (ec || res->need_eof())
        return self->close_now();
      self->read();
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::array<char, 4096> junk_;
};

}  // namespace

void http_server::impl::accept() {
  acceptor->async_accept(
      net::make_strand(ioc), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !self->acceptor->is_open())
          return;
        if (ec) {
          // Out of file descriptors and the like: the listener goes on.
          spdlog::warn("http: accept on {} failed: {}", self->name, ec.message());
        } else {
          auto s = std::make_shared<http_session>(self, std::move(socket));
          s->track();
          s->start();
        }
        self->accept();
      });
}

http_server::http_server(std::string address, uint16_t port, options opts, http_handlers handlers,
                         pubsub& hub)
    : impl_(std::make_shared<impl>(std::move(address), port, opts, std::move(handlers), hub)) {}

http_server::~http_server() {
  stop();
}

result<uint16_t> http_server::listen() {
  auto& m = *impl_;
  if (m.acceptor || m.stopped)
    return error{ec::bad_config, "http_server::listen called twice or after stop"};
  beast::error_code ec;
  auto addr = net::ip::make_address(m.address, ec);
  if (ec)
    return error{ec::bad_config, "HTTP bind address '" + m.address +
                                     "' is not an IP address; use e.g. 127.0.0.1 or 0.0.0.0"};
  tcp::endpoint ep{addr, m.port};
  m.acceptor.emplace(m.ioc);
  auto where = m.address + ":" + std::to_string(m.port);
  if (m.acceptor->open(ep.protocol(), ec); !ec)
    m.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    m.acceptor->bind(ep, ec);
  if (!ec)
    m.acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    m.acceptor.reset();
    return error{ec::bad_config, "cannot listen for HTTP on " + where + ": " + ec.message() +
                                     "; choose a free port or stop the process using it"};
  }
  auto bound = m.acceptor->local_endpoint().port();
  m.name = "http " + m.address + ":" + std::to_string(bound);
  m.ingest.name = m.name;
  m.work.emplace(m.ioc.get_executor());
  m.accept();
  for (int i = 0; i < std::max(1, m.opts.threads); ++i)
    m.threads.emplace_back([&m] { m.ioc.run(); });
  spdlog::info("http: listening on {}", m.name);
  return bound;
}

void http_server::stop() {
  auto& m = *impl_;
  if (m.stopped)
    return;
  m.stopped = true;
  m.posts->close();
  m.work.reset();
  m.ioc.stop();
  for (auto& t : m.threads)
    t.join();
  m.threads.clear();
  if (m.acceptor) {
    beast::error_code ignored;
    m.acceptor->close(ignored);
  }
  std::vector<std::shared_ptr<session_base>> open;
  {
    std::lock_guard guard{m.sessions_mtx};
    for (auto& [_, w] : m.sessions)
      if (auto s = w.lock())
        open.push_back(std::move(s));
  }
  for (auto& s : open)
    s->close_now();
  open.clear();
  // Run the aborted operations' handlers here so every session (and its
  // subscription) is released before stop() returns.
  m.ioc.restart();
  m.ioc.run();
}

const listener_counters& http_server::ingest_counters() const {
  return impl_->ingest;
}

http_snapshot http_server::stats() const {
  auto& m = *impl_;
  http_snapshot s;
  s.name = m.name;
  s.requests = m.counters.requests.load(relaxed);
  s.subscribers = m.counters.subscribers.load(relaxed);
  s.max_subscribers = m.opts.max_subscribers;
  s.subscribers_refused = m.counters.subscribers_refused.load(relaxed);
  s.subscribers_dropped_slow = m.counters.subscribers_dropped_slow.load(relaxed);
  s.events_out = m.counters.events_out.load(relaxed);
  return s;
}

}  // namespace dmon
