// A fixed-size log-linear latency histogram (HdrHistogram-like, ~1.6% bucket width) for the bench
// tools.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace dmon::bench {

/// Records non-negative nanosecond values into log-linear buckets: values below
/// 128 exactly, above that 64 sub-buckets per power of two, so a reported
/// percentile is at most 1/64 above the true value. Fixed memory, no allocation
/// on record, so recording stays cheap inside the load loop. Not thread-safe.
class histogram {
 public:
  void record(int64_t v) {
    if (v < 0)
      v = 0;
    auto u = static_cast<uint64_t>(v);
    ++counts_[index_of(u)];
    ++total_;
    sum_ += u;
    max_ = std::max(max_, u);
  }

  uint64_t count() const { return total_; }
  uint64_t max() const { return max_; }
  double mean() const { return total_ ? static_cast<double>(sum_) / total_ : 0.0; }

  /// Returns the value at quantile `q` (0..1): the upper edge of the bucket holding
  /// it (never below the true value), capped at the exact maximum. 0 when empty.
  uint64_t quantile(double q) const {
    if (total_ == 0)
      return 0;
    auto rank = static_cast<uint64_t>(q * static_cast<double>(total_));
    if (rank >= total_)
      rank = total_ - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen > rank)
        return std::min(upper_edge(i), max_);
    }
    return max_;
  }

 private:
  static constexpr int sub_bits = 6;  // 64 sub-buckets per octave
  static constexpr size_t linear = size_t{2} << sub_bits;
  static constexpr size_t buckets = linear + (64 - sub_bits - 1) * (size_t{1} << sub_bits);

  static size_t index_of(uint64_t v) {
    if (v < linear)
      return static_cast<size_t>(v);
    int msb = 63 - std::countl_zero(v);
    int shift = msb - sub_bits;
    return static_cast<size_t>(shift) * (size_t{1} << sub_bits) + static_cast<size_t>(v >> shift);
  }

  static uint64_t upper_edge(size_t i) {
    if (i < linear)
      return i;
    size_t shift = i / (size_t{1} << sub_bits) - 1;
    uint64_t mantissa = i % (size_t{1} << sub_bits) + (uint64_t{1} << sub_bits);
    return ((mantissa + 1) << shift) - 1;
  }

  std::array<uint64_t, buckets> counts_{};
  uint64_t total_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
};

}  // namespace dmon::bench
