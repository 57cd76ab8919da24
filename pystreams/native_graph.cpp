// Native graphs from Python descriptions: plan JSON in, compiled roots and state delegates out.
#include "native_graph.hpp"

#include <pybind11/pybind11.h>

#include "event_convert.hpp"

namespace py = pybind11;

namespace dmon::native_graph {

namespace {

// The Python side of a native where with a user predicate: the _Where object's `pred` and
// `fail` (which reports exactly as the Python where does). Destroyed with the GIL held (the
// engine goes away under it).
struct python_where {
  py::object pred;
  py::object fail;
};

native::where_predicate predicate_of(py::handle where) {
  auto w = std::make_shared<python_where>(python_where{where.attr("pred"), where.attr("fail")});
  return [w](const event& e) -> std::optional<bool> {
    py::object d = event_convert::to_dict(e);
    PyObject* r = PyObject_CallOneArg(w->pred.ptr(), d.ptr());
    int truth = -1;
    if (r) {
      truth = PyObject_IsTrue(r);
      Py_DECREF(r);
    }
    if (truth >= 0)
      return truth == 1;
    py::error_already_set err;  // the predicate raised: report it, drop the event
    try {
      w->fail(err.value(), d);
    } catch (py::error_already_set&) {
    }
    return std::nullopt;
  };
}

}  // namespace

result<size_t> compile_root(native::engine& eng, const std::string& name, py::handle stream) {
  std::string text;
  py::list refs;
  try {
    auto planned = py::module_::import("dmon.native").attr("plan_refs")(stream).cast<py::tuple>();
    text = planned[0].cast<std::string>();
    refs = planned[1].cast<py::list>();
  } catch (py::error_already_set& err) {
    return error{ec::unsupported, std::string{"describing it raised: "} + err.what()};
  }
  auto desc = native::json::parse(text, nullptr, false);
  if (desc.is_discarded())
    return error{ec::unsupported, "its description is not JSON: " + text};
  return eng.add(name, desc, [refs](const native::json& d) -> result<native::where_predicate> {
    auto i = d.at("ref").get<int64_t>();
    if (i < 0 || static_cast<size_t>(i) >= py::len(refs))
      return error{ec::unsupported, "unknown predicate reference " + std::to_string(i)};
    return predicate_of(refs[static_cast<size_t>(i)]);
  });
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
