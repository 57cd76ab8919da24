// Splits a TCP byte stream into Riemann frames (4-byte big-endian length + payload).
#pragma once

#include <cstddef>
#include <cstdint>
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

  /// Appends `bytes` and moves every complete frame payload into `out`.
  /// Returns too_large (naming the limit) once a frame header announces more than
  /// max_frame_bytes; the stream cannot be trusted after that and the decoder
  /// stays failed. Frames decoded before the bad header are still in `out`.
  result<size_t> feed(std::string_view bytes, std::vector<std::string>& out);

  /// Bytes held for an incomplete frame.
  size_t buffered() const { return buf_.size() - pos_; }

  /// Prefixes `payload` with its 4-byte big-endian length.
  static std::string frame(std::string_view payload);

 private:
  size_t max_frame_bytes_;
  std::string buf_;
  size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace dmon
