// The embedded interpreter's lifetime, the main thread's GIL hand-off, and Python logging into
// spdlog.
#include "python_host.hpp"

#include <pybind11/embed.h>
#include <spdlog/spdlog.h>

namespace py = pybind11;

namespace {

// Python's level numbers (logging.DEBUG = 10, ... CRITICAL = 50) onto spdlog's.
spdlog::level::level_enum from_python(int levelno) {
  if (levelno >= 50)
    return spdlog::level::critical;
  if (levelno >= 40)
    return spdlog::level::err;
  if (levelno >= 30)
    return spdlog::level::warn;
  if (levelno >= 20)
    return spdlog::level::info;
  return spdlog::level::debug;
}

int to_python(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return 10;
    case spdlog::level::info:
      return 20;
    case spdlog::level::warn:
      return 30;
    case spdlog::level::err:
      return 40;
    case spdlog::level::critical:
      return 50;
    default:
      return 60;  // off: above every Python level
  }
}

}  // namespace

// Without a handler, Python's last-resort logger drops INFO and prints the rest without time or
// level, so a stream module's `logging` calls (and dmon's own, e.g. state restore) would not look
// like the rest of dmond's log.
PYBIND11_EMBEDDED_MODULE(_dmon_log, m) {
  m.def("emit", [](int levelno, const std::string& name, const std::string& message) {
    spdlog::log(from_python(levelno), "python {}: {}", name, message);
  });
}

namespace dmon {

namespace {

void route_logging_to_spdlog() {
  py::dict scope;
  scope["level"] = to_python(spdlog::get_level());
  py::exec(R"(
import logging
import _dmon_log

class SpdlogHandler(logging.Handler):
    def emit(self, record):
        try:
            message = self.format(record)
        except Exception:
            self.handleError(record)
            return
        _dmon_log.emit(record.levelno, record.name, message)

root = logging.getLogger()
root.addHandler(SpdlogHandler())
root.setLevel(level)
)",
           scope);
}

}  // namespace

struct python_host::impl {
  py::scoped_interpreter interpreter{false};  // no signal handlers: dmond owns SIGINT/SIGTERM
  std::unique_ptr<py::gil_scoped_release> released;
};

python_host::python_host(const std::vector<std::string>& paths) : impl_(std::make_unique<impl>()) {
  {
    auto sys_path = py::module_::import("sys").attr("path").cast<py::list>();
    for (auto it = paths.rbegin(); it != paths.rend(); ++it)
      sys_path.insert(0, *it);
  }
  route_logging_to_spdlog();
  impl_->released = std::make_unique<py::gil_scoped_release>();
}

python_host::~python_host() {
  impl_->released.reset();  // take the GIL back so the interpreter can finalize
}

}  // namespace dmon
