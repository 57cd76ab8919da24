// Clock helper for events.
#include "event.hpp"

#include <chrono>

namespace dmon {

int64_t now_micros() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace dmon
