// TCP listener and connections: bytes in, frames to the parser, ordered replies out.
#include "tcp_listener.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <caf/all.hpp>

#include <array>
#include <mutex>
#include <set>

#include "frame_decoder.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;

namespace dmon {

namespace {

class connection : public reply_sink, public std::enable_shared_from_this<connection> {
 public:
  using on_close = std::function<void(connection*)>;

  connection(tcp::socket socket, tcp_listener::options opts, listener_counters& counters,
             on_close closed)
      : socket_(std::move(socket)),
        opts_(opts),
        decoder_(opts.max_frame_bytes),
        counters_(counters),
        closed_(std::move(closed)) {}

  void start(caf::actor_system& sys, const router_actor& router, const query_function& query) {
    parser_ = sys.spawn(tcp_parser, std::static_pointer_cast<reply_sink>(shared_from_this()),
                        router, query, &counters_);
    read();
  }

  void deliver(std::string bytes, size_t frames, bool close_after) override {
    asio::post(socket_.get_executor(),
               [self = shared_from_this(), bytes = std::move(bytes), frames,
                close_after]() mutable { self->on_answer(std::move(bytes), frames, close_after); });
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
    std::vector<std::string> frames;
    auto fed = decoder_.feed(std::string_view{buf_.data(), n}, frames);
    std::string fatal;
    if (!fed) {
      fatal = fed.error().message;
      counters_.too_large.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("listener {}: closing a connection from {}: {}", counters_.name, peer(), fatal);
      eof_ = true;  // the framing cannot be trusted: read nothing more
    }
    counters_.messages.fetch_add(frames.size(), std::memory_order_relaxed);
    auto count = frames.size() + (fatal.empty() ? 0 : 1);
    if (count > 0) {
      inflight_ += count;
      caf::anon_send(parser_, frames_atom::value, std::move(frames), std::move(fatal));
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

  void on_answer(std::string bytes, size_t frames, bool close_after) {
    inflight_ -= frames;
    if (close_after)
      eof_ = true;
    out_ += bytes;
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
  listener_counters& counters_;
  on_close closed_;
  tcp_parser_actor parser_;
  std::array<char, 64 * 1024> buf_;
  std::string out_;   // answers waiting for the current write to finish
  std::string wire_;  // answers being written
  size_t inflight_ = 0;
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
  router_actor router;
  query_function query;
  options opts;
  listener_counters& counters;
  tcp::acceptor acceptor;
  mutable std::mutex mtx;
  std::set<std::shared_ptr<connection>> open;
  bool draining = false;

  impl(asio::io_context& io, caf::actor_system& sys, router_actor router, query_function query,
       options opts, listener_counters& counters)
      : io(io),
        sys(sys),
        router(std::move(router)),
        query(std::move(query)),
        opts(opts),
        counters(counters),
        acceptor(io) {}

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
    auto c = std::make_shared<connection>(std::move(s), opts, counters, [weak](connection* gone) {
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
    c->start(sys, router, query);
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

tcp_listener::tcp_listener(asio::io_context& io, caf::actor_system& sys, router_actor router,
                           query_function query, options opts, listener_counters& counters)
    : impl_(std::make_shared<impl>(io, sys, std::move(router), std::move(query), opts, counters)) {}

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
