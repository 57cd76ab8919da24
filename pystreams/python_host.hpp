// dmon::python_host: the process's one CPython interpreter, created and finalized by main.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace dmon {

/// Owns the embedded interpreter (Debian's Python 3.11). Construct once, on the
/// main thread, before any stream_host; destroy after every stream_host is gone.
/// After construction the main thread holds no GIL: every user of Python takes
/// it with dmon::python_gil (python_gil.hpp) for the span of one batch.
class python_host {
 public:
  /// Starts the interpreter, prepends `paths` to sys.path (where the `dmon`
  /// package and the stream modules live), and routes Python's `logging` into
  /// dmond's log at spdlog's current level, as "python <logger>: <message>".
  explicit python_host(const std::vector<std::string>& paths);
  ~python_host();

  python_host(const python_host&) = delete;
  python_host& operator=(const python_host&) = delete;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace dmon
