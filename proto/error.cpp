// Names of dmon::ec codes, for logs and replies.
#include "error.hpp"

namespace dmon {

const char* to_string(ec code) {
  switch (code) {
    case ec::malformed_input:
      return "malformed_input";
    case ec::wrong_type:
      return "wrong_type";
    case ec::too_large:
      return "too_large";
    case ec::unsupported:
      return "unsupported";
    case ec::bad_query:
      return "bad_query";
    case ec::stream_failure:
      return "stream_failure";
    case ec::storage_failure:
      return "storage_failure";
    case ec::overloaded:
      return "overloaded";
    case ec::unreachable:
      return "unreachable";
    case ec::bad_config:
      return "bad_config";
  }
  return "unknown";
}

}  // namespace dmon
