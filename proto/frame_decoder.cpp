// Incremental splitting of Riemann's length-prefixed TCP frames.
#include "frame_decoder.hpp"

namespace dmon {

namespace {

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

result<size_t> frame_decoder::feed(std::string_view bytes, std::vector<std::string>& out) {
  if (failed_)
    return error{ec::too_large, "connection framing was already broken by an oversized frame"};
  // Compact only when the consumed prefix dominates, so a large pending frame is not copied per
  // read.
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
  size_t produced = 0;
  while (buf_.size() - pos_ >= 4) {
    size_t len = read_be32(buf_.data() + pos_);
    if (len > max_frame_bytes_) {
      failed_ = true;
      return error{ec::too_large, "frame of " + mib(len) + " exceeds max_frame_bytes (" +
                                      mib(max_frame_bytes_) +
                                      "); raise --max-frame-bytes or split the message"};
    }
    if (buf_.size() - pos_ - 4 < len)
      break;
    out.emplace_back(buf_, pos_ + 4, len);
    pos_ += 4 + len;
    ++produced;
  }
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  return produced;
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
