// dmon::ingest_ticket: the answer to a batch sent to the shards as plain messages, and its fan-in.
#pragma once

#include <caf/allowed_unsafe_message_type.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace dmon {

/// Waits for the parts of one batch that went to the shards as plain messages rather than
/// CAF requests, so whichever actor finishes the last part (a stream actor, or the storage
/// actor once the writes are in the WAL) answers the sender directly from its own thread,
/// with no hop back through a requesting actor. Each part calls done() or failed() once;
/// the first failure decides the outcome at once. A part whose message is dropped (its
/// actor stopped) just releases its reference: when the last reference goes without every
/// part answered, the batch fails as not processed. `finish` runs exactly once, on the
/// thread that completes the batch, so it must only hand the outcome on (e.g. post it to
/// an I/O thread). Thread-safe.
class ingest_waiter {
 public:
  /// `events`: how many events the batch had; `error` empty when every part succeeded.
  using finish_fn = std::function<void(uint64_t events, std::string error)>;

  ingest_waiter(size_t parts, finish_fn finish);
  ~ingest_waiter();
  ingest_waiter(const ingest_waiter&) = delete;
  ingest_waiter& operator=(const ingest_waiter&) = delete;

  /// One part ran `events` events through the streams (and its writes are in the WAL).
  void done(uint64_t events);
  /// One part failed; `why` says what failed and what to do.
  void failed(std::string why);

 private:
  std::mutex mtx_;
  size_t pending_;
  uint64_t events_ = 0;
  finish_fn finish_;  // empty once called
};

using ingest_ticket = std::shared_ptr<ingest_waiter>;

}  // namespace dmon

// A pointer shared within the process (shards, storage, router, keeper); never sent to a peer.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dmon::ingest_ticket)
