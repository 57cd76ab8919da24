// Splits a TCP byte stream into Riemann frames (4-byte big-endian length + payload).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"

namespace dmon {

/// Incremental frame splitter for one connection. Feed it whatever a read
/// returned; it yields every complete payload and keeps the partial rest.
/// Not thread-safe: one per connection, touched by that connection's I/O strand.
class frame_decoder {
 public:
  explicit frame_decoder(size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

  /// Calls `on_frame` with every complete frame payload in `bytes` (after the frame held
  /// from earlier reads) and keeps the incomplete rest. The payload views are only valid
  /// during the call: frames wholly inside `bytes` are not copied, only the rest is.
  /// Returns too_large (naming the limit) once a frame header announces more than
  /// max_frame_bytes; the stream cannot be trusted after that and the decoder
  /// stays failed. Frames before the bad header were still passed on.
  result<size_t> feed(std::string_view bytes,
                      const std::function<void(std::string_view payload)>& on_frame);

  /// The same, copying every payload into `out`.
  result<size_t> feed(std::string_view bytes, std::vector<std::string>& out);

  /// Bytes held for an incomplete frame.
  size_t buffered() const { return buf_.size(); }

  /// Prefixes `payload` with its 4-byte big-endian length.
  static std::string frame(std::string_view payload);

 private:
  result<size_t> too_large(size_t len);

  size_t max_frame_bytes_;
  /// The start of the one incomplete frame (header and payload so far).
  std::string buf_;
  bool failed_ = false;
};

}  // namespace dmon
