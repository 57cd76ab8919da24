// The UDP listeners: Riemann protobuf datagrams and JSON event datagrams, drops counted.
#pragma once

#include <boost/asio/io_context.hpp>
#include <caf/fwd.hpp>

#include <memory>
#include <string>

#include "counters.hpp"
#include "error.hpp"
#include "ingest_targets.hpp"
#include "interfaces.hpp"
#include "parser_actor.hpp"

namespace dmon {

/// Receives datagrams on an I/O thread, reads every datagram already queued in
/// the socket per wake-up, and hands them to its parser actor in one batch. A
/// datagram over `max_datagram_bytes` is dropped and counted; so is every
/// datagram that arrives while `queue_capacity` of them wait for the parser.
class udp_listener {
 public:
  struct options {
    datagram_format format;
    size_t max_datagram_bytes;
    size_t queue_capacity;
  };

  /// `to`: the local shards while the node is alone, else the router.
  udp_listener(boost::asio::io_context& io, caf::actor_system& sys, ingest_targets to, options opts,
               listener_counters& counters);
  ~udp_listener();

  /// Binds and starts receiving. Returns the bound port (useful with port 0).
  result<uint16_t> listen(const std::string& address, uint16_t port);

  /// Stops receiving. Safe from any thread.
  void stop();

  /// Ends the parser actor; call once the counters show nothing queued or in flight.
  void close();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace dmon
