// TCP listener and connections: bytes in, decoded batches to their owners, ordered replies out.
#include "tcp_listener.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <caf/all.hpp>

#include <array>
#include <mutex>
#include <set>

#include "frame_decoder.hpp"
#include "metrics.hpp"
#include "protobuf_codec.hpp"
#include "tcp_replies.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;

namespace dmon {

namespace {

constexpr int64_t log_interval_us = 1'000'000;

// What every connection of a listener shares: where events go, and the query answerer.
struct routing {
  ingest_targets to;
  query_function query;
};

class connection : public reply_sink, public std::enable_shared_from_this<connection> {
 public:
  using on_close = std::function<void(connection*)>;

  connection(tcp::socket socket, tcp_listener::options opts, listener_counters& counters,
             std::shared_ptr<const routing> route, on_close closed)
      : socket_(std::move(socket)),
        opts_(opts),
        decoder_(opts.max_frame_bytes),
        counters_(counters),
        route_(std::move(route)),
        closed_(std::move(closed)) {}

  void start(caf::actor_system& sys) {
    parser_ = sys.spawn(tcp_parser, std::static_pointer_cast<reply_sink>(shared_from_this()),
                        route_->query);
    read();
  }

  void deliver(uint64_t seq, std::string bytes) override {
    asio::post(socket_.get_executor(),
               [self = shared_from_this(), seq, bytes = std::move(bytes)]() mutable {
                 self->on_ready(seq, std::move(bytes));
               });
  }

  void drain() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->draining_ = true;
      boost::system::error_code ignored;
      // Wakes a pending read with EOF; what was read is still answered.
      self->socket_.shutdown(tcp::socket::shutdown_receive, ignored);
      self->maybe_close();
    });
  }

 private:
  void read() {
    reading_ = true;
    socket_.async_read_some(asio::buffer(buf_),
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                              self->on_read(ec, n);
                            });
  }

  void on_read(boost::system::error_code ec, size_t n) {
    reading_ = false;
    if (ec) {
      eof_ = true;
      maybe_close();
      return;
    }
    counters_.bytes.fetch_add(n, std::memory_order_relaxed);
    auto b = std::make_shared<frame_batch>();
    std::vector<event> events;
    // Sized for this read's bytes at the last read's events per byte, plus an eighth: growing
    // from empty moved every event several times, and sizing like the last read's batch still
    // grew (moving every event once) whenever a read brought more than the one before
    // (index() profile: up to 7 % in vector growth).
    events.reserve(static_cast<size_t>(static_cast<double>(n) * events_per_byte_ * 1.125) + 8);
    auto now = now_micros();
    // Frames are decoded straight from the read buffer, all into one batch.
    auto fed = decoder_.feed(std::string_view{buf_.data(), n}, [&](std::string_view payload) {
      auto query = request_decoder_.decode(payload, now, events);
      if (!query) {
        counters_.messages_rejected.fetch_add(1, std::memory_order_relaxed);
        if (now - last_log_us_ >= log_interval_us) {
          last_log_us_ = now;
          spdlog::warn("parser {}: rejected a frame: {}", counters_.name, query.error().message);
        }
        b->errors.push_back(std::move(query.error().message));
        b->queries.emplace_back();
        return;
      }
      b->errors.emplace_back();
      b->has_query = b->has_query || query->has_value();
      b->queries.push_back(std::move(*query));
    });
    if (!fed) {
      b->fatal = fed.error().message;
      counters_.too_large.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("listener {}: closing a connection from {}: {}", counters_.name, peer(),
                   b->fatal);
      eof_ = true;  // the framing cannot be trusted: read nothing more
    }
    counters_.messages.fetch_add(b->errors.size(), std::memory_order_relaxed);
    events_per_byte_ = static_cast<double>(events.size()) / static_cast<double>(n);
    if (auto count = b->answers(); count > 0) {
      inflight_ += count;
      submit(std::move(b), std::move(events));
    }
    if (eof_ || draining_) {
      maybe_close();
      return;
    }
    if (inflight_ < opts_.max_inflight_frames)
      read();
    else
      paused_ = true;
  }

  // A read's events, decoded and waiting to go to their owners.
  struct pending {
    uint64_t seq;
    std::shared_ptr<frame_batch> b;
    std::vector<event> events;
    std::chrono::steady_clock::time_point started;
  };

  // Hands a read's events to their owners; the batch is answered once they ran.
  //
  // Per-key order across a view change: under one view a key has one owner and one shard,
  // and this connection sends each destination its parts in read order, so one key's events
  // arrive in order. When the view changes, a key may now go another way (to the shard
  // instead of the router, or to another owner), and a later event could overtake an earlier
  // one still on the old way. So a read that finds a newer view than the one its unanswered
  // batches were split by waits (with every read after it) until those are answered, i.e.
  // ran on their owners; then they go by the view of that moment. Views change rarely
  // (membership), and the wait is bounded by max_inflight_frames like any other.
  void submit(std::shared_ptr<frame_batch> b, std::vector<event> events) {
    auto seq = order_.open(b->answers(), !b->fatal.empty());
    auto started = std::chrono::steady_clock::now();
    if (events.empty()) {
      finish(seq, std::move(b), 0, {}, started);
      return;
    }
    pending p{seq, std::move(b), std::move(events), started};
    auto& to = route_->to;
    if (!to.direct()) {
      dispatch(std::move(p));
      return;
    }
    auto current = to.view();
    if (!held_.empty() || (current != view_ && batches_open_ > 0)) {
      held_.push_back(std::move(p));
      return;
    }
    view_ = std::move(current);
    dispatch(std::move(p));
  }

  void dispatch(pending p) {
    ++batches_open_;
    auto n = p.events.size();
    auto ticket = [&, n](size_t parts) {
      return std::make_shared<ingest_waiter>(
          parts, [self = shared_from_this(), seq = p.seq, b = p.b, n, started = p.started](
                     uint64_t, std::string error) {
            asio::post(self->socket_.get_executor(), [=, error = std::move(error)]() mutable {
              self->finish(seq, b, n, std::move(error), started);
              self->answered();
            });
          });
    };
    auto& to = route_->to;
    if (!to.direct())
      caf::anon_send(to.router, ingest_atom::value, std::move(p.events), ticket(1));
    else
      to.send(view_.get(), std::move(p.events), ticket);
  }

  // A dispatched batch was answered: reads held for a view change go once none is open.
  void answered() {
    if (--batches_open_ > 0 || held_.empty())
      return;
    view_ = route_->to.view();
    auto held = std::move(held_);
    held_.clear();
    for (auto& p : held)
      dispatch(std::move(p));
  }

  // The batch's events ran (or failed with `error`): its answers are rendered here, or by the
  // parser actor when they include a query (that reads the index, or asks the cluster).
  void finish(uint64_t seq, std::shared_ptr<frame_batch> b, size_t events, std::string error,
              std::chrono::steady_clock::time_point started) {
    if (auto* h = counters_.ack_latency)
      h->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    if (error.empty())
      counters_.events_accepted.fetch_add(events, std::memory_order_relaxed);
    else
      error = "events were not processed: " + error + "; retry, and check the dmond log";
    if (error.empty() && b->has_query && parser_) {
      caf::anon_send(parser_, frames_atom::value, seq,
                     std::shared_ptr<const frame_batch>{std::move(b)});
      return;
    }
    std::string bytes;
    render_answers(*b, error, nullptr, bytes);
    on_ready(seq, std::move(bytes));
  }

  void on_ready(uint64_t seq, std::string bytes) {
    order_.ready(seq, std::move(bytes));
    auto done = order_.release(out_);
    inflight_ -= done.frames;
    if (done.close)
      eof_ = true;
    write();
    if (paused_ && inflight_ < opts_.max_inflight_frames && !eof_ && !draining_) {
      paused_ = false;
      read();
    }
  }

  void write() {
    if (writing_ || out_.empty()) {
      maybe_close();
      return;
    }
    writing_ = true;
    std::swap(out_, wire_);
    asio::async_write(socket_, asio::buffer(wire_),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                        self->writing_ = false;
                        self->wire_.clear();
                        if (ec) {
                          // The peer is gone; nothing more can be answered.
                          self->out_.clear();
                          self->eof_ = true;
                          self->inflight_written_off_ = true;
                        }
                        self->write();
                      });
  }

  void maybe_close() {
    if (closed_flag_ || reading_ || writing_ || !out_.empty())
      return;
    if (!(eof_ || draining_))
      return;
    if (inflight_ > 0 && !inflight_written_off_)
      return;
    closed_flag_ = true;
    boost::system::error_code ignored;
    socket_.close(ignored);
    caf::anon_send_exit(parser_, caf::exit_reason::user_shutdown);
    parser_ = nullptr;
    closed_(this);
  }

  std::string peer() const {
    boost::system::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    return ec ? std::string{"?"} : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  tcp::socket socket_;
  tcp_listener::options opts_;
  frame_decoder decoder_;
  protobuf_codec::request_decoder request_decoder_;
  listener_counters& counters_;
  std::shared_ptr<const routing> route_;
  /// The view the unanswered batches were split by, how many there are, and the reads that
  /// wait for them to be answered because the view changed (submit()).
  std::shared_ptr<const cluster_link::snapshot> view_;
  size_t batches_open_ = 0;
  std::vector<pending> held_;
  on_close closed_;
  tcp_parser_actor parser_;
  std::array<char, 64 * 1024> buf_;
  reply_order order_;
  std::string out_;   // answers waiting for the current write to finish
  std::string wire_;  // answers being written
  size_t inflight_ = 0;
  double events_per_byte_ = 0;
  int64_t last_log_us_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool paused_ = false;
  bool eof_ = false;
  bool draining_ = false;
  bool closed_flag_ = false;
  bool inflight_written_off_ = false;
};

}  // namespace

struct tcp_listener::impl : std::enable_shared_from_this<tcp_listener::impl> {
  asio::io_context& io;
  caf::actor_system& sys;
  std::shared_ptr<const routing> route;
  options opts;
  listener_counters& counters;
  tcp::acceptor acceptor;
  mutable std::mutex mtx;
  std::set<std::shared_ptr<connection>> open;
  bool draining = false;

  impl(asio::io_context& io, caf::actor_system& sys, std::shared_ptr<const routing> route,
       options opts, listener_counters& counters)
      : io(io), sys(sys), route(std::move(route)), opts(opts), counters(counters), acceptor(io) {}

  void accept() {
    acceptor.async_accept(asio::make_strand(io), [self = shared_from_this()](
                                                     boost::system::error_code ec, tcp::socket s) {
      if (ec) {
        if (ec != asio::error::operation_aborted)
          spdlog::warn("listener {}: accept failed: {}", self->counters.name, ec.message());
        if (!self->acceptor.is_open())
          return;
      } else {
        self->start(std::move(s));
      }
      self->accept();
    });
  }

  void start(tcp::socket s) {
    boost::system::error_code ignored;
    s.set_option(tcp::no_delay(true), ignored);
    s.set_option(asio::socket_base::keep_alive(true), ignored);
    std::weak_ptr<impl> weak = shared_from_this();
    auto c =
        std::make_shared<connection>(std::move(s), opts, counters, route, [weak](connection* gone) {
          if (auto self = weak.lock())
            self->forget(gone);
        });
    {
      std::lock_guard lock{mtx};
      if (draining)
        return;
      open.insert(c);
    }
    counters.connections.fetch_add(1, std::memory_order_relaxed);
    c->start(sys);
  }

  void forget(connection* gone) {
    std::lock_guard lock{mtx};
    for (auto i = open.begin(); i != open.end(); ++i) {
      if (i->get() == gone) {
        open.erase(i);
        counters.connections.fetch_sub(1, std::memory_order_relaxed);
        return;
      }
    }
  }
};

namespace {

std::shared_ptr<const routing> make_routing(ingest_targets to, query_function query) {
  auto r = std::make_shared<routing>();
  r->to = std::move(to);
  r->query = std::move(query);
  return r;
}

}  // namespace

tcp_listener::tcp_listener(asio::io_context& io, caf::actor_system& sys, targets to,
                           query_function query, options opts, listener_counters& counters)
    : impl_(std::make_shared<impl>(io, sys, make_routing(std::move(to), std::move(query)), opts,
                                   counters)) {}

tcp_listener::~tcp_listener() = default;

result<uint16_t> tcp_listener::listen(const std::string& address, uint16_t port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(address, ec);
  if (ec)
    return error{ec::bad_config, "bind address '" + address + "' is not an IP address"};
  tcp::endpoint ep{addr, port};
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec)
    a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec)
    a.bind(ep, ec);
  if (!ec)
    a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return error{ec::bad_config, "cannot listen on TCP " + address + ":" + std::to_string(port) +
                                     ": " + ec.message() +
                                     "; pick another --tcp-port or stop what uses it"};
  impl_->accept();
  return a.local_endpoint().port();
}

void tcp_listener::drain() {
  std::vector<std::shared_ptr<connection>> conns;
  {
    std::lock_guard lock{impl_->mtx};
    impl_->draining = true;
    conns.assign(impl_->open.begin(), impl_->open.end());
  }
  asio::post(impl_->io, [self = impl_] {
    boost::system::error_code ignored;
    self->acceptor.close(ignored);
  });
  for (auto& c : conns)
    c->drain();
}

size_t tcp_listener::open_connections() const {
  std::lock_guard lock{impl_->mtx};
  return impl_->open.size();
}

}  // namespace dmon
