// UDP listener: datagrams in batches to the parser, every drop counted.
#include "udp_listener.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <caf/all.hpp>

#include <array>

namespace asio = boost::asio;
using asio::ip::udp;

namespace dmon {

namespace {

constexpr size_t max_batch = 512;

}  // namespace

struct udp_listener::impl : std::enable_shared_from_this<udp_listener::impl> {
  udp::socket socket;
  options opts;
  listener_counters& counters;
  udp_parser_actor parser;
  // One byte more than any legal datagram, so an oversized one is seen as such.
  std::array<char, 65536> buf;
  udp::endpoint sender;

  impl(asio::io_context& io, caf::actor_system& sys, ingest_targets to, options o,
       listener_counters& c)
      : socket(io), opts(o), counters(c) {
    parser = sys.spawn(udp_parser, std::move(to), o.format, &counters, o.queue_capacity);
  }

  void receive() {
    socket.async_receive_from(asio::buffer(buf), sender,
                              [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                                self->on_receive(ec, n);
                              });
  }

  // Returns false when the datagram was dropped for its size.
  bool take(size_t n, std::vector<std::string>& batch) {
    counters.messages.fetch_add(1, std::memory_order_relaxed);
    counters.bytes.fetch_add(n, std::memory_order_relaxed);
    if (n > opts.max_datagram_bytes) {
      counters.too_large.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    batch.emplace_back(buf.data(), n);
    return true;
  }

  void on_receive(boost::system::error_code ec, size_t n) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !socket.is_open())
        return;
      spdlog::warn("listener {}: receive failed: {}", counters.name, ec.message());
      receive();
      return;
    }
    std::vector<std::string> batch;
    take(n, batch);
    // Everything already queued in the kernel goes in the same batch: one message, one wake-up.
    while (batch.size() < max_batch) {
      boost::system::error_code more_ec;
      if (socket.available(more_ec) == 0 || more_ec)
        break;
      auto m = socket.receive_from(asio::buffer(buf), sender, 0, more_ec);
      if (more_ec)
        break;
      take(m, batch);
    }
    if (!batch.empty()) {
      if (counters.queued.load(std::memory_order_relaxed) + batch.size() > opts.queue_capacity) {
        counters.dropped_datagrams.fetch_add(batch.size(), std::memory_order_relaxed);
      } else {
        counters.queued.fetch_add(batch.size(), std::memory_order_relaxed);
        caf::anon_send(parser, datagrams_atom::value, std::move(batch));
      }
    }
    receive();
  }
};

udp_listener::udp_listener(asio::io_context& io, caf::actor_system& sys, ingest_targets to,
                           options opts, listener_counters& counters)
    : impl_(std::make_shared<impl>(io, sys, std::move(to), opts, counters)) {}

udp_listener::~udp_listener() = default;

result<uint16_t> udp_listener::listen(const std::string& address, uint16_t port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(address, ec);
  if (ec)
    return error{ec::bad_config, "bind address '" + address + "' is not an IP address"};
  udp::endpoint ep{addr, port};
  auto& s = impl_->socket;
  s.open(ep.protocol(), ec);
  if (!ec)
    s.bind(ep, ec);
  if (ec)
    return error{ec::bad_config, "cannot listen on UDP " + address + ":" + std::to_string(port) +
                                     ": " + ec.message() +
                                     "; pick another port or stop what uses it"};
  boost::system::error_code ignored;
  // A larger kernel buffer absorbs bursts while the parser catches up.
  s.set_option(asio::socket_base::receive_buffer_size(8 << 20), ignored);
  impl_->receive();
  return s.local_endpoint().port();
}

void udp_listener::close() {
  caf::anon_send_exit(impl_->parser, caf::exit_reason::user_shutdown);
}

void udp_listener::stop() {
  asio::post(impl_->socket.get_executor(), [self = impl_] {
    boost::system::error_code ignored;
    self->socket.close(ignored);
  });
}

}  // namespace dmon
