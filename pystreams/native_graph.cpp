// Native graphs from Python descriptions: plan JSON in, compiled roots and state delegates out.
#include "native_graph.hpp"

#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace dmon::native_graph {

result<size_t> compile_root(native::engine& eng, const std::string& name, py::handle stream) {
  std::string text;
  try {
    text = py::module_::import("dmon.native").attr("plan_json")(stream).cast<std::string>();
  } catch (py::error_already_set& err) {
    return error{ec::unsupported, std::string{"describing it raised: "} + err.what()};
  }
  auto desc = native::json::parse(text, nullptr, false);
  if (desc.is_discarded())
    return error{ec::unsupported, "its description is not JSON: " + text};
  return eng.add(name, desc);
}

py::object state_delegate(native::engine& eng, size_t root) {
  auto json_mod = py::module_::import("json");
  py::object loads = json_mod.attr("loads"), dumps = json_mod.attr("dumps");
  auto types = py::module_::import("types");
  py::object delegate = types.attr("SimpleNamespace")();
  delegate.attr("state") = py::cpp_function([&eng, root, loads](const std::string& path) {
    auto j = eng.own_state(root, path);
    if (j.is_null())
      return py::object(py::none());
    return loads(j.dump());
  });
  delegate.attr("restore") =
      py::cpp_function([&eng, root, dumps](const std::string& path, py::handle data) {
        auto text = dumps(data).cast<std::string>();
        auto j = native::json::parse(text, nullptr, false);
        if (j.is_discarded())
          throw py::value_error("saved state is not JSON");
        try {
          if (!eng.restore_own(root, path, j))
            throw py::key_error("no native stream at " + path);
        } catch (const native::json::exception& e) {
          throw py::value_error(std::string{"saved state does not fit: "} + e.what());
        } catch (const std::invalid_argument& e) {
          throw py::value_error(e.what());
        }
      });
  return delegate;
}

}  // namespace dmon::native_graph
