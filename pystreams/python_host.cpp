// The embedded interpreter's lifetime and the main thread's GIL hand-off.
#include "python_host.hpp"

#include <pybind11/embed.h>

namespace py = pybind11;

namespace dmon {

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
  impl_->released = std::make_unique<py::gil_scoped_release>();
}

python_host::~python_host() {
  impl_->released.reset();  // take the GIL back so the interpreter can finalize
}

}  // namespace dmon
