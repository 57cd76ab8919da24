// The TCP listener: Riemann's length-prefixed protobuf on Boost.Asio, with back-pressure.
#pragma once

#include <boost/asio/io_context.hpp>
#include <caf/fwd.hpp>

#include <memory>
#include <string>

#include "counters.hpp"
#include "error.hpp"
#include "interfaces.hpp"
#include "parser_actor.hpp"

namespace dmon {

/// Accepts connections and runs each one's reads and writes on the I/O threads.
/// Every connection gets its own parser actor; frames read in one go go to it as
/// one batch, and answers come back in order. A connection stops reading while
/// `max_inflight_frames` of its frames are unanswered (Riemann's ack-after-streams
/// back-pressure, bounded). A frame over `max_frame_bytes` is answered with ok=false
/// naming the limit, after which the connection closes.
class tcp_listener {
 public:
  struct options {
    size_t max_frame_bytes;
    size_t max_inflight_frames;
  };

  tcp_listener(boost::asio::io_context& io, caf::actor_system& sys, router_actor router,
               query_function query, options opts, listener_counters& counters);
  ~tcp_listener();

  /// Binds and starts accepting. Returns the bound port (useful with port 0).
  result<uint16_t> listen(const std::string& address, uint16_t port);

  /// Stops accepting and tells every connection to stop reading, answer what it
  /// has read, and close. Safe from any thread.
  void drain();

  /// Connections still open.
  size_t open_connections() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace dmon
