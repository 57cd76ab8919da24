// Incremental splitting of Riemann's length-prefixed TCP frames.
#include "frame_decoder.hpp"

#include <algorithm>

namespace dmon {

namespace {

// Above this, the buffer that assembled a frame is released once the frame is out.
constexpr size_t large_frame_bytes = 1 << 20;

uint32_t read_be32(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

std::string mib(size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0)
    return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace

result<size_t> frame_decoder::too_large(size_t len) {
  failed_ = true;
  buf_.clear();
  return error{ec::too_large, "frame of " + mib(len) + " exceeds max_frame_bytes (" +
                                  mib(max_frame_bytes_) +
                                  "); raise --max-frame-bytes or split the message"};
}

result<size_t> frame_decoder::feed(std::string_view bytes,
                                   const std::function<void(std::string_view)>& on_frame) {
  if (failed_)
    return error{ec::too_large, "connection framing was already broken by an oversized frame"};
  size_t produced = 0;
  // First complete the frame an earlier read left unfinished, taking only its own bytes.
  if (!buf_.empty()) {
    if (buf_.size() < 4) {
      auto take = std::min(4 - buf_.size(), bytes.size());
      buf_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      if (buf_.size() < 4)
        return produced;
    }
    size_t len = read_be32(buf_.data());
    if (len > max_frame_bytes_)
      return too_large(len);
    auto take = std::min(4 + len - buf_.size(), bytes.size());
    buf_.reserve(4 + len);
    buf_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (buf_.size() < 4 + len)
      return produced;
    on_frame(std::string_view{buf_}.substr(4));
    ++produced;
    // A large frame's buffer is not kept for the small ones that usually follow.
    if (buf_.capacity() > large_frame_bytes)
      std::string{}.swap(buf_);
    buf_.clear();
  }
  // Then every whole frame straight from the read, without a copy.
  size_t at = 0;
  while (bytes.size() - at >= 4) {
    size_t len = read_be32(bytes.data() + at);
    if (len > max_frame_bytes_)
      return too_large(len);
    if (bytes.size() - at - 4 < len)
      break;
    on_frame(bytes.substr(at + 4, len));
    at += 4 + len;
    ++produced;
  }
  buf_.assign(bytes.substr(at));
  return produced;
}

result<size_t> frame_decoder::feed(std::string_view bytes, std::vector<std::string>& out) {
  return feed(bytes, [&out](std::string_view payload) { out.emplace_back(payload); });
}

std::string frame_decoder::frame(std::string_view payload) {
  std::string out;
  out.reserve(4 + payload.size());
  auto n = static_cast<uint32_t>(payload.size());
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out.append(payload);
  return out;
}

}  // namespace dmon
