// The TCP listener: Riemann's length-prefixed protobuf on Boost.Asio, with back-pressure.
#pragma once

#include <boost/asio/io_context.hpp>
#include <caf/fwd.hpp>

#include <memory>
#include <string>
#include <vector>

#include "counters.hpp"
#include "error.hpp"
#include "ingest_targets.hpp"
#include "interfaces.hpp"
#include "parser_actor.hpp"

namespace dmon {

/// Accepts connections and runs each one's reads and writes on the I/O threads.
/// A connection decodes what it read there and splits the events of a whole read, as one
/// batch, by owner under the current cluster view (ingest_targets): the ones this node owns
/// (all of them while it is alone) go straight to their shards, the others to the router,
/// which forwards them to their owner nodes. The last part to finish (a shard, the storage
/// actor once the writes are in the WAL, the keeper once it sent them to replicas, or the
/// router once the owner answered) answers the connection directly. When the view changes,
/// a connection sends nothing more until its earlier batches are answered, so no event of a
/// key overtakes an earlier one that went another way. Queries are answered by the
/// connection's parser actor. Answers go out in read order. A connection stops reading while
/// `max_inflight_frames` of its frames are unanswered (Riemann's ack-after-streams
/// back-pressure, bounded). A frame over `max_frame_bytes` is answered with ok=false naming
/// the limit, after which the connection closes.
class tcp_listener {
 public:
  struct options {
    size_t max_frame_bytes;
    size_t max_inflight_frames;
  };

  /// Where events go: the local shards for what this node owns, the router for the rest.
  using targets = ingest_targets;

  tcp_listener(boost::asio::io_context& io, caf::actor_system& sys, targets to,
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
