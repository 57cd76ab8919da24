// Native graphs from Python descriptions: plan JSON in, compiled roots and state delegates out.
#include "native_graph.hpp"

#include <pybind11/pybind11.h>

#include "event_convert.hpp"

namespace py = pybind11;

namespace dmon::native_graph {

namespace {

// The Python side of a native where/split/match with a user predicate: the function and
// its stream's `fail` (which reports exactly as the Python stream does). Destroyed with the GIL
// held (the engine goes away under it).
struct python_where {
  py::object pred;
  py::object fail;
};

// A Python subtree (an output, your function or generator, or timer-free Python streams)
// called from a native graph: the event becomes a dict only here. What `send` raises is
// reported through the Python parent's fail(), as the parent's emit would; state and
// restore are the Python object's, in the same JSON shape as native nodes'. Every method
// runs with the GIL held (roots with such nodes are driven under it).
class python_leaf final : public native::node {
 public:
  python_leaf(std::string kind, py::object obj, py::object fail)
      : node(std::move(kind)),
        obj_(std::move(obj)),
        send_(py::module_::import("dmon.core").attr("child_send")(obj_)),
        fail_(std::move(fail)),
        stream_(py::isinstance(obj_, py::module_::import("dmon.core").attr("Stream"))) {}

  void push(const event& e) override { call(event_convert::to_dict(e)); }
  void push_list(const std::vector<event>& es) override {
    py::list l(es.size());
    for (size_t i = 0; i < es.size(); ++i)  // the list steals each dict: no accessor, no churn
      PyList_SET_ITEM(l.ptr(), static_cast<Py_ssize_t>(i),
                      event_convert::to_dict(es[i]).release().ptr());
    call(l);
  }
  bool takes_lists() const override { return true; }
  bool hosted() const override { return true; }

  native::node_ptr fresh(native::context&) const override {
    // What by() does for its templates: built-ins rebuilt, your objects shared.
    py::object copy = py::module_::import("dmon.core").attr("fresh")(obj_);
    return std::make_unique<python_leaf>(kind_, copy, fail_);
  }
  void close() override {
    if (!stream_)
      return;
    try {  // closing runs user code (generators' finally blocks); report, never throw
      obj_.attr("close")();
    } catch (py::error_already_set& err) {
      try {
        fail_.is_none() ? py::object() : fail_(err.value(), py::none());
      } catch (py::error_already_set&) {
      }
    }
  }
  native::json own_state() const override {
    return stream_ ? to_json(obj_.attr("_state")()) : native::json(nullptr);
  }
  void restore_own(const native::json& data) override {
    if (stream_)
      obj_.attr("_restore")(from_json(data));
  }
  native::json state() const override {
    return stream_ ? to_json(obj_.attr("state")()) : native::json(nullptr);
  }
  void restore(const native::json& data) override {
    if (stream_ && !data.is_null())
      obj_.attr("restore")(from_json(data));
  }

 private:
  void call(py::handle arg) {
    PyObject* r = PyObject_CallOneArg(send_.ptr(), arg.ptr());
    if (r) {
      Py_DECREF(r);
      return;
    }
    py::error_already_set err;
    if (fail_.is_none())
      throw err;  // no parent to report to: a root-level failure
    fail_(err.value(), arg);
  }
  static native::json to_json(py::handle data) {
    if (data.is_none())
      return nullptr;
    auto text = py::module_::import("json").attr("dumps")(data).cast<std::string>();
    return native::json::parse(text);
  }
  static py::object from_json(const native::json& j) {
    return py::module_::import("json").attr("loads")(j.dump());
  }

  py::object obj_, send_, fail_;
  bool stream_;
};

// _Changed with a value only Python computes or compares exactly (a function of the event,
// a non-string field, a non-string init): f(event) and `!=` run in Python, the event itself
// goes on to native children. State in _Changed's shape. GIL held throughout.
class python_changed final : public native::node {
 public:
  python_changed(py::object f, py::object fail, py::object init,
                 std::vector<native::node_ptr> children)
      : node("changed", std::move(children)),
        f_(std::move(f)),
        fail_(std::move(fail)),
        init_(std::move(init)),
        prev_value_(init_) {}

  void push(const event& e) override {
    py::object d = event_convert::to_dict(e);
    PyObject* v = PyObject_CallOneArg(f_.ptr(), d.ptr());
    if (!v) {
      report(d);
      return;
    }
    auto value = py::reinterpret_steal<py::object>(v);
    py::object pv = std::move(prev_value_);
    prev_value_ = value;
    prev_event_ = e;
    int differ = PyObject_RichCompareBool(pv.ptr(), value.ptr(), Py_NE);
    if (differ < 0) {
      report(d);
      return;
    }
    if (differ)
      emit(e);
  }
  native::node_ptr fresh(native::context& ctx) const override {
    return std::make_unique<python_changed>(f_, fail_, init_, fresh_children(ctx));
  }
  native::json own_state() const override {
    auto json = py::module_::import("json");
    py::dict st;
    st["value"] = prev_value_;
    st["event"] = prev_event_ ? py::object(event_convert::to_dict(*prev_event_)) : py::none();
    return native::json::parse(json.attr("dumps")(st).cast<std::string>());
  }
  void restore_own(const native::json& data) override {
    if (!native::truthy(data))
      return;
    prev_value_ = py::module_::import("json").attr("loads")(data.at("value").dump());
    auto& ev = data.at("event");
    if (ev.is_null()) {
      prev_event_.reset();
    } else {
      auto e = native::event_from_json(ev);
      if (!e)
        throw std::invalid_argument(e.error().message);
      prev_event_ = std::move(*e);
    }
  }

 private:
  void report(py::handle d) {
    py::error_already_set err;
    try {
      fail_(err.value(), d);
    } catch (py::error_already_set&) {
    }
  }

  py::object f_, fail_, init_, prev_value_;
  std::optional<event> prev_event_;
};

native::where_predicate predicate_of(py::handle fn, py::handle owner) {
  auto w = std::make_shared<python_where>(
      python_where{py::reinterpret_borrow<py::object>(fn), owner.attr("fail")});
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
  auto ref = [refs](const native::json& d, const char* key) -> std::optional<py::tuple> {
    auto i = d.at(key).get<int64_t>();
    if (i < 0 || static_cast<size_t>(i) >= py::len(refs))
      return std::nullopt;
    return refs[static_cast<size_t>(i)].cast<py::tuple>();
  };
  auto predicate = [ref](const native::json& d) -> result<native::where_predicate> {
    auto r = ref(d, "ref");
    if (!r)
      return error{ec::unsupported, "unknown predicate reference"};
    return predicate_of((*r)[0], (*r)[1]);
  };
  auto leaf = [ref](const native::json& d) -> result<native::node_ptr> {
    auto r = ref(d, "leaf");
    if (!r)
      return error{ec::unsupported, "unknown subtree reference"};
    py::object parent = (*r)[1];
    py::object fail = parent.is_none() ? py::object(py::none()) : parent.attr("fail");
    return native::node_ptr(
        std::make_unique<python_leaf>(d.value("stream", std::string{"python"}), (*r)[0], fail));
  };
  auto changed = [ref](const native::json& d,
                       std::vector<native::node_ptr> children) -> result<native::node_ptr> {
    auto r = ref(d, "ref");
    if (!r)
      return error{ec::unsupported, "unknown function reference"};
    py::object owner = (*r)[1];
    return native::node_ptr(std::make_unique<python_changed>(
        (*r)[0], owner.attr("fail"), owner.attr("init"), std::move(children)));
  };
  return eng.add(name, desc, predicate, leaf, changed);
}

py::object state_delegate(native::engine& eng, size_t root) {
  auto json_mod = py::module_::import("json");
  py::object loads = json_mod.attr("loads"), dumps = json_mod.attr("dumps");
  auto types = py::module_::import("types");
  py::object delegate = types.attr("SimpleNamespace")();
  delegate.attr("owns") =
      py::cpp_function([&eng, root](const std::string& path) { return eng.owns(root, path); });
  delegate.attr("state") = py::cpp_function([&eng, root, loads](const std::string& path) {
    auto j = eng.own_state(root, path);
    if (j.is_null())
      return py::object(py::none());
    return loads(j.dump());
  });
  delegate.attr("changed") = py::cpp_function([&eng, root, loads](const std::string& path) {
    auto j = eng.take_changed_state(root, path);
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
