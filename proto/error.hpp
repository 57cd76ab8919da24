// dmon::ec, the error vocabulary shared by every layer, and dmon::result for typed returns.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace dmon {

/// Error codes; every one travels with a message that says what was wrong and what to do.
enum class ec : uint8_t {
  /// A frame, datagram or JSON document could not be decoded.
  malformed_input = 1,
  /// A field had the wrong type (e.g. a string metric).
  wrong_type,
  /// Input exceeded a configured size limit.
  too_large,
  /// A feature was requested that this server does not offer.
  unsupported,
  /// A query string did not parse.
  bad_query,
  /// The user's stream module could not be imported or raised.
  stream_failure,
  /// A storage operation failed (disk full, corruption, I/O error).
  storage_failure,
  /// A queue was full and the input was dropped.
  overloaded,
  /// A peer node or actor is unreachable.
  unreachable,
  /// Configuration was invalid.
  bad_config,
};

/// Returns the code's short name, e.g. "malformed_input".
const char* to_string(ec code);

/// An error code plus a human-readable reason.
struct error {
  ec code;
  std::string message;
};

using error_type = error;

/// A value or an error; the return type at module boundaries.
template <class T>
class result {
 public:
  result(T value) : v_(std::move(value)) {}
  result(error_type err) : v_(std::move(err)) {}

  explicit operator bool() const { return v_.index() == 0; }
  T& operator*() { return std::get<0>(v_); }
  const T& operator*() const { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  const error_type& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, error_type> v_;
};

}  // namespace dmon
